//go:build !linux

package main

import "syscall"

// childAttr: elsewhere a child outlives a test binary killed by its
// timeout (see e2e_linux_test.go).
func childAttr() *syscall.SysProcAttr { return nil }
