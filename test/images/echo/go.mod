// The HTTP server of the cluster tests' Pods (test/images/echo): standard library only.
module beacon.dev/echo

go 1.26.0
