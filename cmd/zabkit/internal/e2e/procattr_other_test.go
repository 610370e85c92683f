//go:build unix && !linux

package e2e

import "syscall"

// procAttr: without Pdeathsig, t.Cleanup alone kills the peers.
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{} }
