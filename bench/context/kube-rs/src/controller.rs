//! The same work as `bench/controller.ts`, through kube-rs's `Controller`:
//! the ConfigMaps of one namespace, a no-op reconcile, concurrency 8 (0:
//! unbounded, kube-rs's default).
//!
//! - first pass: from `Controller::new` to every object reconciled once;
//! - then PASSES times (default 5): one `reconcile_all_on` trigger, until
//!   every object is reconciled again: wall time and the process's CPU time
//!   (all threads).
//!
//! Prints one JSON line: the counts, the first pass, each reconcile-all pass,
//! and the process RSS before the client started and after the first pass.
//!
//! usage: kube-rs-controller-bench KUBECONFIG NAMESPACE N [PASSES] [CONCURRENCY]
use futures::channel::mpsc;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::controller::{Action, Config as ControllerConfig};
use kube::runtime::{watcher, Controller};
use kube::{Api, Client, Config};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

mod rss;
use rss::rss_bytes;

/// User + system CPU time of the whole process (every thread), µs.
fn cpu_micros() -> f64 {
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let micros = |t: libc::timeval| t.tv_sec as f64 * 1e6 + t.tv_usec as f64;
    micros(usage.ru_utime) + micros(usage.ru_stime)
}

/// What the reconcile shares with the measuring code: a count, and a wake-up when it reaches `target`.
struct Progress {
    reconciles: AtomicUsize,
    target: AtomicUsize,
    reached: Notify,
}

impl Progress {
    /// Waits until `n` reconciles in all have been counted.
    async fn until(&self, n: usize) {
        self.target.store(n, Ordering::SeqCst);
        while self.reconciles.load(Ordering::SeqCst) < n {
            let _ = tokio::time::timeout(Duration::from_millis(100), self.reached.notified()).await;
        }
    }
}

async fn reconcile(_obj: Arc<ConfigMap>, progress: Arc<Progress>) -> Result<Action, std::io::Error> {
    let done = progress.reconciles.fetch_add(1, Ordering::SeqCst) + 1;
    if done == progress.target.load(Ordering::SeqCst) {
        progress.reached.notify_one();
    }
    Ok(Action::await_change())
}

fn error_policy(_obj: Arc<ConfigMap>, _err: &std::io::Error, _progress: Arc<Progress>) -> Action {
    Action::requeue(Duration::from_secs(1))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (path, ns, n) = (&args[1], &args[2], args[3].parse::<usize>()?);
    let passes = args.get(4).map(|p| p.parse::<usize>()).transpose()?.unwrap_or(5);
    let concurrency = args.get(5).map(|c| c.parse::<u16>()).transpose()?.unwrap_or(8);
    let rss_before = rss_bytes();
    let kubeconfig = Kubeconfig::read_from(path)?;
    let options = KubeConfigOptions { context: Some("admin".into()), ..Default::default() };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options).await?;
    let client = Client::try_from(config)?;
    let api: Api<ConfigMap> = Api::namespaced(client, ns);
    let progress = Arc::new(Progress { reconciles: AtomicUsize::new(0), target: AtomicUsize::new(0), reached: Notify::new() });
    let (reconcile_all, reconcile_all_rx) = mpsc::unbounded::<()>();

    let started = Instant::now();
    let controller = Controller::new(api, watcher::Config::default())
        .with_config(ControllerConfig::default().concurrency(concurrency))
        .reconcile_all_on(reconcile_all_rx)
        .run(reconcile, error_policy, progress.clone())
        .for_each(|_| futures::future::ready(()));
    tokio::spawn(controller);
    progress.until(n).await;
    let first_pass_ms = started.elapsed().as_secs_f64() * 1000.0;
    let rss_after = rss_bytes();

    let mut reconcile_all_passes = Vec::new();
    for _ in 0..passes {
        let before = progress.reconciles.load(Ordering::SeqCst);
        let cpu = cpu_micros();
        let t1 = Instant::now();
        reconcile_all.unbounded_send(())?;
        progress.until(before + n).await;
        let seconds = t1.elapsed().as_secs_f64();
        let cpu_used = cpu_micros() - cpu;
        reconcile_all_passes.push(serde_json::json!({
            "throughputPerSec": n as f64 / seconds,
            "cpuMicrosPerReconcile": cpu_used / n as f64,
        }));
    }

    println!(
        "{}",
        serde_json::json!({
            "reconciles": progress.reconciles.load(Ordering::SeqCst),
            "firstPassMs": first_pass_ms,
            "passes": reconcile_all_passes,
            "rssBefore": rss_before,
            "rssAfter": rss_after,
        })
    );
    std::process::exit(0);
}
