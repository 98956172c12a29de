package pgstore_test

import (
	"context"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/pgstore"
	"github.com/irisknn/irisknn/internal/pgtest"
)

// blackhole is a TCP proxy to a server that can drop everything, as a
// network partition does: no RST, no FIN, bytes just stop. Connections cut
// that way stay dead after healing (the worst case); new ones work again.
type blackhole struct {
	ln     net.Listener
	target string
	gen    atomic.Int64 // connections of an older generation are cut
	cut    atomic.Bool
	mu     sync.Mutex
	conns  []net.Conn
}

func newBlackhole(t *testing.T, target string) *blackhole {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	b := &blackhole{ln: ln, target: target}
	t.Cleanup(func() {
		ln.Close()
		b.mu.Lock()
		for _, c := range b.conns {
			c.Close()
		}
		b.mu.Unlock()
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go b.serve(c)
		}
	}()
	return b
}

func (b *blackhole) serve(c net.Conn) {
	gen := b.gen.Load()
	b.mu.Lock()
	b.conns = append(b.conns, c)
	b.mu.Unlock()
	if b.cut.Load() {
		return // accepted, never answered
	}
	s, err := net.Dial("tcp", b.target)
	if err != nil {
		c.Close()
		return
	}
	b.mu.Lock()
	b.conns = append(b.conns, s)
	b.mu.Unlock()
	pipe := func(dst, src net.Conn) {
		buf := make([]byte, 32<<10)
		for {
			n, err := src.Read(buf)
			if b.gen.Load() != gen {
				return // cut: drop the bytes and everything after
			}
			if n > 0 {
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			}
			if err != nil {
				if err != io.EOF {
					return
				}
				dst.Close()
				return
			}
		}
	}
	go pipe(s, c)
	go pipe(c, s)
}

func (b *blackhole) partition() { b.cut.Store(true); b.gen.Add(1) }
func (b *blackhole) heal()      { b.cut.Store(false) }

func (b *blackhole) url(t *testing.T, direct string) string {
	u, err := url.Parse(direct)
	require.NoError(t, err)
	u.Host = b.ln.Addr().String()
	return u.String()
}

func TestAPartitionedReplicaRefusesWritesAndConvergesAfterHealing(t *testing.T) {
	srv := pgtest.Database(t)
	ctx := context.Background()
	bh := newBlackhole(t, net.JoinHostPort("127.0.0.1", strconv.Itoa(srv.Port)))
	opts := pgstore.Options{WriteTimeout: 500 * time.Millisecond, PingEvery: 200 * time.Millisecond}
	cut := open(t, bh.url(t, srv.URL()), irisSnapshot(t), opts)
	other := open(t, srv.URL(), irisSnapshot(t), opts)
	// Warm the cut replica's pool: these connections will die silently.
	for range 3 {
		_, _, err := cut.Create(ctx, valid(t, cut, 0, []float64{1, 2, 3, 4}, "setosa"))
		require.NoError(t, err)
	}

	bh.partition()
	eventually(t, "the cut replica reports the outage", func() bool { return cut.Health() != nil })
	start := time.Now()
	_, _, err := cut.Create(ctx, valid(t, cut, 0, []float64{1, 2, 3, 4}, "setosa"))
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
	assert.Less(t, time.Since(start), time.Second, "refused at once")
	for range 5 {
		_, _, err := other.Create(ctx, valid(t, other, 0, []float64{4, 3, 2, 1}, "virginica"))
		require.NoError(t, err)
	}
	want := other.Snapshot().Version()
	assert.Less(t, cut.Snapshot().Version(), want)

	bh.heal()
	eventually(t, "the cut replica converges", func() bool {
		return cut.Health() == nil && cut.Snapshot().Version() == want
	})
	_, snap, err := cut.Create(ctx, valid(t, cut, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, want+1, snap.Version())
}
