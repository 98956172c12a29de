package knn

import (
	"syscall"
	"time"
	"unsafe"
)

// Clock ids of clock_gettime(2).
const (
	clockProcessCPU = 2
	clockThreadCPU  = 3
)

// cpuClock returns the CPU time consumed so far by the calling thread
// (thread true) or the whole process. On a machine shared with other work,
// CPU time per operation is steadier than wall time: time spent waiting for
// a core is not counted.
func cpuClock(thread bool) time.Duration {
	id := clockProcessCPU
	if thread {
		id = clockThreadCPU
	}
	var ts syscall.Timespec
	syscall.Syscall(syscall.SYS_CLOCK_GETTIME, uintptr(id), uintptr(unsafe.Pointer(&ts)), 0)
	return time.Duration(ts.Nano())
}
