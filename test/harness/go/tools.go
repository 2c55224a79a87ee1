//go:build tools

// Keeps the binaries' main packages in this module's dependency graph so that
// `go mod tidy` records every module they need in go.sum: the API server and
// kubectl for every test, the rest for the cluster tests (kubelet, kube-proxy,
// kube-controller-manager, kube-scheduler).
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-proxy"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
	_ "k8s.io/kubernetes/cmd/kubelet"
)
