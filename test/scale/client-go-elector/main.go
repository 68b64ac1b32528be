// A replica that campaigns for a Lease with client-go's own leader election
// (k8s.io/client-go/tools/leaderelection, a LeaseLock), for the interop test
// (test/scale/client-go-interop.test.ts): kubereflect replicas and these
// campaign for one Lease, and the test audits what each printed.
//
// While it leads it "acts" every 20 ms, each act checked against the
// leadership context first. SIGTERM stops it the way client-go documents for
// ReleaseOnCancel: first stop acting, then cancel the context, which
// releases the Lease (with -release-on-cancel) and ends Run. SIGKILL is the
// crash.
//
// Prints one JSON line per event, as test/scale/elector-child.ts does:
// {"t": ms since the epoch, "id": ..., "event": "ready"|"start"|"act"|"stop"|"exit"}.
//
// usage: client-go-elector -kubeconfig F -namespace NS -name LEASE -id ID
//
//	[-lease-duration 3s] [-renew-deadline 2s] [-retry-period 500ms] [-release-on-cancel=true]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"
)

var (
	out   sync.Mutex
	enc   = json.NewEncoder(os.Stdout)
	ident string
)

func print(event string) {
	out.Lock()
	defer out.Unlock()
	_ = enc.Encode(map[string]any{"t": time.Now().UnixMilli(), "id": ident, "event": event})
}

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig file")
	kubeContext := flag.String("context", "admin", "kubeconfig context")
	namespace := flag.String("namespace", "", "the Lease's namespace")
	name := flag.String("name", "", "the Lease's name")
	flag.StringVar(&ident, "id", "", "this replica's identity")
	leaseDuration := flag.Duration("lease-duration", 3*time.Second, "LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 2*time.Second, "RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 500*time.Millisecond, "RetryPeriod")
	releaseOnCancel := flag.Bool("release-on-cancel", true, "ReleaseOnCancel")
	flag.Parse()
	klog.SetLogger(logr.Discard())

	config, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(
		&clientcmd.ClientConfigLoadingRules{ExplicitPath: *kubeconfig},
		&clientcmd.ConfigOverrides{CurrentContext: *kubeContext},
	).ClientConfig()
	if err != nil {
		panic(err)
	}
	clientset := kubernetes.NewForConfigOrDie(config)
	lock := &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: *namespace, Name: *name},
		Client:     clientset.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: ident},
	}

	ctx, cancel := context.WithCancel(context.Background())
	stopActing := make(chan struct{})
	var mu sync.Mutex
	var acting chan struct{} // closed when the current act loop has ended
	stopping := false

	act := func(leading context.Context) {
		mu.Lock()
		if stopping {
			mu.Unlock()
			return
		}
		done := make(chan struct{})
		acting = done
		mu.Unlock()
		defer close(done)
		print("start")
		for {
			select {
			case <-leading.Done():
				print("stop")
				return
			case <-stopActing:
				print("stop")
				return
			default:
			}
			print("act")
			time.Sleep(20 * time.Millisecond)
		}
	}

	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock:            lock,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: *releaseOnCancel,
		Name:            *name,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: act,
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		panic(err)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		mu.Lock()
		stopping = true
		done := acting
		mu.Unlock()
		close(stopActing)
		// The work guarded by the Lease has ended: only now may the Lease be released.
		if done != nil {
			<-done
		}
		cancel()
	}()

	print("ready")
	elector.Run(ctx)
	print("exit")
}
