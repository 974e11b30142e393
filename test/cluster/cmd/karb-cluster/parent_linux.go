//go:build linux

package main

import (
	"os"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// With KARB_CLUSTER_DIE_WITH_PARENT=<pid of the process starting it> (the test harness sets
// it), the process is killed when that process ends, however it ends: a test run killed mid-way
// leaves no control plane behind.
func init() {
	parent, err := strconv.Atoi(os.Getenv("KARB_CLUSTER_DIE_WITH_PARENT"))
	if err != nil {
		return
	}
	_ = unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	if os.Getppid() != parent { // it ended before the prctl took effect
		os.Exit(1)
	}
}
