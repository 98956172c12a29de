package main

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSlowClientsAreCutOff checks the server timeouts of the real binary: a
// client that sends its headers (or its body) too slowly loses the
// connection instead of holding it, and the server goes on serving.
func TestSlowClientsAreCutOff(t *testing.T) {
	bin := buildIrisd(t)
	d := startDaemon(t, bin, "-read-header-timeout", "500ms", "-read-timeout", "1s")

	// closedWithin reads from conn until it is closed and returns how long
	// that took and what the server sent.
	closedWithin := func(conn net.Conn) (time.Duration, string) {
		start := time.Now()
		conn.SetReadDeadline(start.Add(20 * time.Second))
		b, err := io.ReadAll(conn)
		var ne net.Error
		if err != nil && (!asNetErr(err, &ne) || ne.Timeout()) {
			t.Fatalf("the connection was still open after 20s: %v", err)
		}
		return time.Since(start), string(b)
	}

	t.Run("slow headers", func(t *testing.T) {
		conn, err := net.Dial("tcp", d.addr)
		require.NoError(t, err)
		defer conn.Close()
		fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: %s\r\nContent-Ty", d.addr) // and then nothing
		took, _ := closedWithin(conn)
		assert.Less(t, took, 10*time.Second)
	})
	t.Run("slow body", func(t *testing.T) {
		conn, err := net.Dial("tcp", d.addr)
		require.NoError(t, err)
		defer conn.Close()
		fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"features\":", d.addr)
		took, got := closedWithin(conn)
		assert.Less(t, took, 10*time.Second)
		if got != "" { // the handler may answer before the connection closes: never with success
			assert.Regexp(t, `^HTTP/1.1 4\d\d `, got)
		}
	})
	t.Run("still serving", func(t *testing.T) {
		resp, err := http.Get(d.base + "/healthz")
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusOK, resp.StatusCode)
	})
}

func asNetErr(err error, target *net.Error) bool {
	ne, ok := err.(net.Error)
	if ok {
		*target = ne
	}
	return ok
}
