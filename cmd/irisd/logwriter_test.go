package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// countingWriter records writes; safe for use by the writer goroutine
// while the test reads.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
	delay  time.Duration
}

func (c *countingWriter) Write(p []byte) (int, error) {
	time.Sleep(c.delay)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(p)
}

func (c *countingWriter) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.String()
}

func TestGroupWriterKeepsEveryLineInOrderPerWriter(t *testing.T) {
	cw := &countingWriter{delay: time.Millisecond}
	g := newGroupWriter(cw)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 200 {
				fmt.Fprintf(g, "w%d %d\n", w, i)
			}
		})
	}
	wg.Wait()
	require.NoError(t, g.Close())
	lines := strings.Split(strings.TrimSuffix(cw.String(), "\n"), "\n")
	require.Len(t, lines, 1600)
	next := map[string]int{}
	for _, l := range lines {
		var w string
		var i int
		_, err := fmt.Sscanf(l, "%s %d", &w, &i)
		require.NoError(t, err, l)
		assert.Equal(t, next[w], i, "lines of one writer stay in order")
		next[w] = i + 1
	}
	assert.Less(t, cw.writes, 1600, "lines were batched")
	fmt.Fprintln(g, "after close")
	assert.True(t, strings.HasSuffix(cw.String(), "after close\n"))
}

func TestGroupWriterWritesPromptlyWhenIdle(t *testing.T) {
	cw := &countingWriter{}
	g := newGroupWriter(cw)
	defer g.Close()
	fmt.Fprintln(g, "hello")
	require.Eventually(t, func() bool { return cw.String() == "hello\n" }, 5*time.Second, time.Millisecond)
}
