//go:build tools

// Keeps Helm's main package in this module's dependency graph so that `go mod tidy` records every module
// it needs in go.sum.
package tools

import _ "helm.sh/helm/v4/cmd/helm"
