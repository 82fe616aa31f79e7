//go:build !(race && unix)

package main

// raceBuild: the lifecycle binary the end-to-end tests run is built without
// the race detector (see e2e_race_test.go).
const raceBuild = false
