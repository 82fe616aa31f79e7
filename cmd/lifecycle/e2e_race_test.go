//go:build race && unix

package main

// raceBuild: a test binary built with -race builds the lifecycle binary it
// runs with -race too, so a data race in `lifecycle serve` fails the
// end-to-end tests (the race detector's exit status 66 is not the 0 they
// demand).
const raceBuild = true
