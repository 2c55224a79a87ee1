//go:build tools

// Keeps the binaries' main packages in this module's dependency graph so that
// `go mod tidy` records every module they need in go.sum.
package tools

import (
	_ "go.etcd.io/etcd/server/v3"
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
