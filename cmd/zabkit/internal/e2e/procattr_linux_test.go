//go:build linux

package e2e

import "syscall"

// procAttr makes the kernel kill a peer if the test process dies, so that
// no server outlives a crashed test run.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
