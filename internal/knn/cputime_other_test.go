//go:build !linux

package knn

import "time"

var start = time.Now()

// cpuClock falls back to wall time where thread CPU clocks are not wired.
func cpuClock(bool) time.Duration { return time.Since(start) }
