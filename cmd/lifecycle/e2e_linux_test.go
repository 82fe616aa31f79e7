//go:build linux

package main

import "syscall"

// On Linux a child gets SIGKILL when the test binary dies, so a test
// binary killed by its timeout leaves no lifecycle serve running.
func init() { childAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
