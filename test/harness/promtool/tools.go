//go:build tools

// Keeps promtool's main package in this module's dependency graph so that `go mod tidy` records every
// module it needs in go.sum.
package tools

import _ "github.com/prometheus/prometheus/cmd/promtool"
