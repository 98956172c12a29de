package pgtest_test

import (
	"os"
	"testing"

	"github.com/irisknn/irisknn/internal/pgtest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServerKeepsCommittedRowsAcrossKill9(t *testing.T) {
	srv := pgtest.Start(t)
	assert.Contains(t, srv.URL(), "127.0.0.1")
	_, err := srv.SQL("CREATE TABLE t (v int); INSERT INTO t VALUES (1), (2)")
	require.NoError(t, err)

	srv.Kill()
	assert.Zero(t, srv.Pid())
	_, err = srv.SQL("SELECT 1")
	assert.Error(t, err, "a killed server answers nothing")

	require.NoError(t, srv.Restart())
	got, err := srv.SQL("SELECT sum(v) FROM t")
	require.NoError(t, err)
	assert.Equal(t, "3", got)
}

func TestServerIsRemovedWhenTheTestEnds(t *testing.T) {
	var dir string
	t.Run("inner", func(t *testing.T) {
		srv := pgtest.Start(t)
		dir = srv.Dir
		_, err := os.Stat(dir)
		require.NoError(t, err)
	})
	_, err := os.Stat(dir)
	assert.True(t, os.IsNotExist(err), "the server's directory is gone: %v", err)
}
