package main

import (
	"io"
	"sync"
	"time"
)

// groupWriter batches log lines into few writes: Write appends to a buffer
// and, if the buffer was empty, arms a timer that writes everything
// buffered flushDelay later in one call. A line waits at most flushDelay;
// under load, all lines logged meanwhile share one write. The access log at
// 40,000 requests/s then costs a few hundred write syscalls per second
// instead of 40,000, and a line costs a mutex and a copy
// (docs/performance.md: about 3 us less CPU per request). An idle server
// has no timer running.
type groupWriter struct {
	w       io.Writer
	flushMu sync.Mutex // serialises writes to w, in buffer order
	mu      sync.Mutex // guards the fields below
	buf     []byte
	spare   []byte
	armed   bool
	closed  bool
	timer   *time.Timer
	drained *sync.Cond // signalled after each flush
}

// flushDelay bounds how long a line waits in the buffer.
const flushDelay = 2 * time.Millisecond

// maxPending bounds the buffered bytes: beyond it, writers flush
// themselves (a stalled log must slow the server, not grow it).
const maxPending = 4 << 20

func newGroupWriter(w io.Writer) *groupWriter {
	g := &groupWriter{w: w}
	g.drained = sync.NewCond(&g.mu)
	g.timer = time.AfterFunc(time.Hour, g.flush)
	g.timer.Stop()
	return g
}

// Write implements io.Writer. It never fails: errors of the underlying
// writer are dropped, as slog would drop them.
func (g *groupWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		g.flushMu.Lock()
		defer g.flushMu.Unlock()
		return g.w.Write(p)
	}
	g.buf = append(g.buf, p...)
	full := len(g.buf) > maxPending
	if !g.armed && !full {
		g.armed = true
		g.timer.Reset(flushDelay)
	}
	g.mu.Unlock()
	if full {
		g.flush()
	}
	return len(p), nil
}

// flush writes what is buffered.
func (g *groupWriter) flush() {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	g.mu.Lock()
	b := g.buf
	g.buf, g.spare = g.spare[:0], nil
	g.armed = false
	g.mu.Unlock()
	if len(b) > 0 {
		g.w.Write(b)
	}
	g.mu.Lock()
	if cap(b) <= maxPending {
		g.spare = b
	}
	g.drained.Broadcast()
	g.mu.Unlock()
}

// Close writes what is buffered; later writes go straight to the
// underlying writer.
func (g *groupWriter) Close() error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	g.timer.Stop()
	g.flush()
	return nil
}
