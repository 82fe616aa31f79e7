//go:build linux

package main

import "syscall"

// childAttr: on Linux a child gets SIGKILL when the test binary dies, so a
// test binary killed by its timeout leaves no lifecycle serve running.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} }
