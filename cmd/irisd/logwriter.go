package main

import (
	"io"
	"runtime"
	"sync"
)

// groupWriter batches log lines into as few writes as possible without
// delaying them: Write appends to a buffer and wakes a writer goroutine,
// which writes everything buffered in one call. When the server is idle a
// line goes out at once; under load, lines logged while the previous batch
// was being written share one write. The access log at 20,000 requests/s
// then costs a few hundred write syscalls per second instead of 20,000
// (docs/performance.md).
type groupWriter struct {
	w      io.Writer
	mu     sync.Mutex
	buf    []byte
	wake   chan struct{}
	done   chan struct{}
	closed bool
	// flushed is signalled after every batch, for Close.
	flushed *sync.Cond
	busy    bool
}

// maxPending bounds the buffered bytes: beyond it, writers wait for the
// batch in progress (a stalled log must slow the server, not grow it).
const maxPending = 4 << 20

func newGroupWriter(w io.Writer) *groupWriter {
	g := &groupWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	g.flushed = sync.NewCond(&g.mu)
	go g.loop()
	return g
}

// Write implements io.Writer. It never fails: errors of the underlying
// writer are dropped, as slog would drop them.
func (g *groupWriter) Write(p []byte) (int, error) {
	g.mu.Lock()
	for len(g.buf) > maxPending && !g.closed {
		g.flushed.Wait()
	}
	if g.closed {
		g.mu.Unlock()
		return g.w.Write(p)
	}
	g.buf = append(g.buf, p...)
	g.mu.Unlock()
	select {
	case g.wake <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (g *groupWriter) loop() {
	defer close(g.done)
	var spare []byte
	for range g.wake {
		// Let the goroutines that are ready run (and log) first: with one
		// CPU (GOMAXPROCS=1) the writer would otherwise run after every
		// line. An idle server has none, so the line still goes out at once.
		runtime.Gosched()
		g.mu.Lock()
		b := g.buf
		g.buf = spare[:0]
		g.busy = true
		g.mu.Unlock()
		if len(b) > 0 {
			g.w.Write(b)
		}
		if cap(b) <= maxPending {
			spare = b
		}
		g.mu.Lock()
		g.busy = false
		g.flushed.Broadcast()
		g.mu.Unlock()
	}
}

// Close writes what is buffered and stops the writer goroutine; later
// writes go straight to the underlying writer.
func (g *groupWriter) Close() error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	for len(g.buf) > 0 || g.busy {
		select {
		case g.wake <- struct{}{}:
		default:
		}
		g.flushed.Wait()
	}
	g.closed = true
	g.flushed.Broadcast()
	g.mu.Unlock()
	close(g.wake)
	<-g.done
	return nil
}
