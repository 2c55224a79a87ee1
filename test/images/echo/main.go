// Command echo is the server the cluster tests run as Pods behind LoadBalancer Services. It answers every
// request with the Pod and node that served it, taken from the downward API (POD_NAME, POD_NAMESPACE,
// NODE_NAME, POD_IP), and the client address it saw, so a test can tell which Pod on which node answered and
// whether the client's source address survived the path (externalTrafficPolicy: Local keeps it).
//
// GET /healthz answers "ok" for readiness probes. SIGTERM stops it gracefully: as PID 1 of a container it
// would otherwise ignore the signal and the kubelet would wait out the grace period.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

type answer struct {
	Pod       string `json:"pod"`
	Namespace string `json:"namespace"`
	Node      string `json:"node"`
	PodIP     string `json:"podIP"`
	Client    string `json:"client"`
}

func main() {
	host := os.Getenv("HOST")
	port := os.Getenv("PORT")
	if port == "" {
		port = "8080"
	}
	who := answer{
		Pod:       os.Getenv("POD_NAME"),
		Namespace: os.Getenv("POD_NAMESPACE"),
		Node:      os.Getenv("NODE_NAME"),
		PodIP:     os.Getenv("POD_IP"),
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a := who
		if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			a.Client = h
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(a)
	})
	srv := &http.Server{Addr: net.JoinHostPort(host, port), Handler: mux, ReadHeaderTimeout: 5 * time.Second}

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	done := make(chan struct{})
	go func() {
		sig := <-stop
		log.Printf("echo: %v, shutting down", sig)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		close(done)
	}()

	log.Printf("echo: pod %q on node %q listening on %s", who.Pod, who.Node, srv.Addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		log.Fatalf("echo: %v", err)
	}
	<-done
}
