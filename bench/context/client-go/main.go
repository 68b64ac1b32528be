// The same measurement as bench/memory.ts, through client-go's shared
// informer for the pods of one namespace. Prints one JSON line: how many pods
// were stored, the process RSS before the client started and after the
// cache synced, and the Go heap in use (after runtime.GC) at both points.
//
// usage: client-go-informer KUBECONFIG NAMESPACE
package main

import (
	"encoding/json"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

func rss() uint64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			kb, _ := strconv.ParseUint(strings.Fields(line)[1], 10, 64)
			return kb * 1024
		}
	}
	return 0
}

func heap() uint64 {
	runtime.GC()
	debug.FreeOSMemory()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func main() {
	kubeconfig, namespace := os.Args[1], os.Args[2]
	heapBefore, rssBefore := heap(), rss()
	config, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		panic(err)
	}
	clientset := kubernetes.NewForConfigOrDie(config)
	factory := informers.NewSharedInformerFactoryWithOptions(clientset, 0, informers.WithNamespace(namespace))
	informer := factory.Core().V1().Pods().Informer()
	stop := make(chan struct{})
	factory.Start(stop)
	if !cache.WaitForCacheSync(stop, informer.HasSynced) {
		panic("cache did not sync")
	}
	time.Sleep(300 * time.Millisecond)
	stored := len(informer.GetStore().List())
	heapAfter := heap()
	out, _ := json.Marshal(map[string]uint64{"stored": uint64(stored), "rssBefore": rssBefore, "rssAfter": rss(), "heapBefore": heapBefore, "heapAfter": heapAfter})
	os.Stdout.Write(append(out, '\n'))
	os.Exit(0)
}
