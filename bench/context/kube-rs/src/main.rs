//! The same measurement as `bench/memory.ts`, through kube-rs's reflector:
//! `watcher` → `reflect` → `Store` for the pods of one namespace. Prints one
//! JSON line: how many pods were stored and the process RSS before the
//! client started and after the store was ready (glibc malloc; no GC).
//!
//! usage: kube-rs-reflector-bench KUBECONFIG NAMESPACE full|metadata
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::PartialObjectMeta;
use kube::runtime::{reflector, watcher, WatchStreamExt};
use kube::{Api, Client, Config};
use std::time::Duration;

mod rss;
use rss::rss_bytes;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (path, ns, mode) = (&args[1], &args[2], args.get(3).map(String::as_str).unwrap_or("full"));
    let before = rss_bytes();
    let kubeconfig = Kubeconfig::read_from(path)?;
    let config = Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default()).await?;
    let client = Client::try_from(config)?;
    let stored = if mode == "metadata" {
        // kube 5: an Api of PartialObjectMeta makes metadata-only requests.
        let api: Api<PartialObjectMeta<Pod>> = Api::namespaced(client, ns);
        let (reader, writer) = reflector::store();
        let stream = watcher(api, watcher::Config::default()).default_backoff().reflect(writer).applied_objects();
        tokio::spawn(stream.for_each(|_| futures::future::ready(())));
        reader.wait_until_ready().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        reader.state().len()
    } else {
        let api: Api<Pod> = Api::namespaced(client, ns);
        let (reader, writer) = reflector::store();
        let stream = watcher(api, watcher::Config::default()).default_backoff().reflect(writer).applied_objects();
        tokio::spawn(stream.for_each(|_| futures::future::ready(())));
        reader.wait_until_ready().await?;
        tokio::time::sleep(Duration::from_millis(300)).await;
        reader.state().len()
    };
    let after = rss_bytes();
    println!("{}", serde_json::json!({ "stored": stored, "rssBefore": before, "rssAfter": after }));
    std::process::exit(0);
}
