package wal

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/datasettest"
)

// loaded is the embedded Iris set (the shared helper).
var loaded = datasettest.Iris

// state is what recovery must reproduce exactly.
type state struct {
	Version uint64
	NextID  int64
	Samples []dataset.Sample
}

func stateOf(s *dataset.Snapshot) state {
	st := state{Version: s.Version(), NextID: s.NextID()}
	s.All(func(x dataset.Sample) bool { st.Samples = append(st.Samples, x); return true })
	return st
}

// writes applies a fixed mix of every kind of write and returns the state
// after each one (index i: after i+1 writes).
func writes(t *testing.T, m *dataset.Memory) []state {
	t.Helper()
	ctx := context.Background()
	var out []state
	step := func(err error) {
		t.Helper()
		require.NoError(t, err)
		out = append(out, stateOf(m.Snapshot()))
	}
	_, _, err := m.Create(ctx, valid(t, m, 0, []float64{5.1, 3.5, 1.4, 0.2}, "setosa"))
	step(err)
	_, _, err = m.Put(ctx, validOf(t, m, dataset.Sample{ID: 500, Features: []float64{6.1, 2.9, 4.7, 1.4}, Label: "versicolor"}), dataset.Precondition{})
	step(err)
	_, _, err = m.Put(ctx, validOf(t, m, dataset.Sample{ID: 3, Features: []float64{0.1, -2.5, 1e-9, 7.25}, Label: "virginica"}), dataset.Precondition{})
	step(err)
	_, err = m.Delete(ctx, 7, dataset.Precondition{})
	step(err)
	_, err = m.Reset(ctx)
	step(err)
	_, _, err = m.Create(ctx, valid(t, m, 0, []float64{7.7, 3.8, 6.7, 2.2}, "virginica"))
	step(err)
	_, err = m.Delete(ctx, 1, dataset.Precondition{})
	step(err)
	return out
}

func open(t *testing.T, dir string, opts Options) (*Log, *dataset.Snapshot) {
	t.Helper()
	l, snap, err := Open(dir, loaded(t), opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	return l, snap
}

func TestRecoverEveryKindOfWrite(t *testing.T) {
	for _, every := range []int{1, 2, 3, 1000} {
		dir := t.TempDir()
		l, snap := open(t, dir, Options{CompactEvery: every})
		assert.Equal(t, stateOf(loaded(t)), stateOf(snap), "a new dir starts from the loaded set")
		m := dataset.NewMemory(snap, l)
		states := writes(t, m)
		require.NoError(t, l.Close())

		_, got := open(t, dir, Options{CompactEvery: every})
		assert.Equal(t, states[len(states)-1], stateOf(got), "CompactEvery=%d", every)
		assert.EqualValues(t, 1+len(states), got.Version())
	}
}

// TestStoreHandsTheLogItsSnapshot: a store writing through the log
// (AppendApplied) applies each change once; the log keeps the store's own
// snapshot for the next compaction rather than applying the change again.
func TestStoreHandsTheLogItsSnapshot(t *testing.T) {
	l, snap := open(t, t.TempDir(), Options{})
	m := dataset.NewMemory(snap, l)
	for range 3 {
		_, _, err := m.Put(context.Background(), validOf(t, m, dataset.Sample{ID: 2, Features: []float64{6.1, 2.9, 4.7, 1.4}, Label: "versicolor"}), dataset.Precondition{})
		require.NoError(t, err)
		assert.Same(t, m.Snapshot(), l.cur)
	}
	_, err := l.AppendApplied(context.Background(), dataset.Change{Version: 9, Op: dataset.OpReset}, m.Snapshot())
	assert.ErrorIs(t, err, dataset.ErrVersion, "a state that does not follow the log's is refused")
}

func TestRecoverAfterCompactionCutShort(t *testing.T) {
	// A crash after the snapshot was renamed but before the log was
	// truncated leaves records the snapshot covers: replay skips them.
	dir := t.TempDir()
	l, snap := open(t, dir, Options{})
	states := writes(t, dataset.NewMemory(snap, l))
	logBytes, err := os.ReadFile(filepath.Join(dir, LogFile))
	require.NoError(t, err)
	require.NoError(t, l.Compact())
	require.NoError(t, l.Close())
	require.NoError(t, os.WriteFile(filepath.Join(dir, LogFile), logBytes, 0o640))
	require.NoError(t, os.WriteFile(filepath.Join(dir, SnapshotFile+tempSuffix), []byte("half a snapshot"), 0o640))

	_, got := open(t, dir, Options{})
	assert.Equal(t, states[len(states)-1], stateOf(got))
	assert.NoFileExists(t, filepath.Join(dir, SnapshotFile+tempSuffix))
}

// recordOffsets writes the standard mix and returns the dir, the states and
// the log size after each write.
func recordOffsets(t *testing.T) (string, []state, []int64) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{})
	m := dataset.NewMemory(snap, l)
	states := writes(t, m)
	require.NoError(t, l.Close())
	// Re-derive record boundaries by framing the same changes.
	b, err := os.ReadFile(filepath.Join(dir, LogFile))
	require.NoError(t, err)
	var ends []int64
	for off := 0; off < len(b); {
		require.True(t, validRecord(b[off:], maxPayload(4)))
		n := int(b[off]) | int(b[off+1])<<8
		off += headerSize + n
		ends = append(ends, int64(off))
	}
	require.Len(t, ends, len(states))
	return dir, states, ends
}

func copyDir(t *testing.T, src string, mutate func(log []byte) []byte) string {
	t.Helper()
	dst := t.TempDir()
	for _, name := range []string{SnapshotFile, LogFile} {
		b, err := os.ReadFile(filepath.Join(src, name))
		require.NoError(t, err)
		if name == LogFile {
			b = mutate(slices.Clone(b))
		}
		require.NoError(t, os.WriteFile(filepath.Join(dst, name), b, 0o640))
	}
	return dst
}

func TestTornLastRecordAtEveryOffset(t *testing.T) {
	src, states, ends := recordOffsets(t)
	n := len(ends)
	lastStart, end := ends[n-2], ends[n-1]
	for cut := lastStart; cut < end; cut++ {
		dir := copyDir(t, src, func(b []byte) []byte { return b[:cut] })
		l, snap, err := Open(dir, loaded(t), Options{})
		require.NoError(t, err, "cut at %d", cut)
		assert.Equal(t, states[n-2], stateOf(snap), "cut at %d: the torn record is dropped, the rest kept", cut)
		fi, err := os.Stat(filepath.Join(dir, LogFile))
		require.NoError(t, err)
		assert.Equal(t, lastStart, fi.Size(), "cut at %d: the torn bytes are truncated", cut)

		// The log goes on working after the repair.
		m := dataset.NewMemory(snap, l)
		_, err = m.Reset(context.Background())
		require.NoError(t, err)
		want := stateOf(m.Snapshot())
		require.NoError(t, l.Close())
		_, again := open(t, dir, Options{})
		assert.Equal(t, want, stateOf(again), "cut at %d: appends after the repair recover", cut)
	}
}

func TestCorruptLastRecordIsDropped(t *testing.T) {
	src, states, ends := recordOffsets(t)
	n := len(ends)
	for i := ends[n-2]; i < ends[n-1]; i++ {
		dir := copyDir(t, src, func(b []byte) []byte { b[i] ^= 0xff; return b })
		_, snap, err := Open(dir, loaded(t), Options{})
		require.NoError(t, err, "flipped byte %d", i)
		assert.Equal(t, states[n-2], stateOf(snap), "flipped byte %d", i)
	}
}

func TestZeroFilledTailIsDropped(t *testing.T) {
	src, states, _ := recordOffsets(t)
	dir := copyDir(t, src, func(b []byte) []byte { return append(b, make([]byte, 4096)...) })
	_, snap := open(t, dir, Options{})
	assert.Equal(t, states[len(states)-1], stateOf(snap))
}

func TestCorruptionInTheMiddleIsAnError(t *testing.T) {
	src, _, ends := recordOffsets(t)
	// Flip a payload byte of the second record: whole records follow it.
	at := ends[0] + headerSize + 3
	dir := copyDir(t, src, func(b []byte) []byte { b[at] ^= 0x01; return b })
	_, _, err := Open(dir, loaded(t), Options{})
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, ends[0], ce.Offset)
	assert.Contains(t, err.Error(), "corrupt record")
}

func TestCorruptSnapshotIsAnError(t *testing.T) {
	src, _, _ := recordOffsets(t)
	dir := copyDir(t, src, func(b []byte) []byte { return b })
	p := filepath.Join(dir, SnapshotFile)
	b, err := os.ReadFile(p)
	require.NoError(t, err)
	b[len(b)/2] ^= 0x10
	require.NoError(t, os.WriteFile(p, b, 0o640))
	_, _, err = Open(dir, loaded(t), Options{})
	assert.ErrorContains(t, err, "checksum mismatch")
}

func TestOneProcessPerDir(t *testing.T) {
	dir := t.TempDir()
	open(t, dir, Options{})
	_, _, err := Open(dir, loaded(t), Options{})
	assert.ErrorContains(t, err, "another process")
}

func TestRecordedSetWinsOverLoaded(t *testing.T) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{})
	m := dataset.NewMemory(snap, l)
	_, err := m.Delete(context.Background(), 150, dataset.Precondition{})
	require.NoError(t, err)
	_, err = m.Reset(context.Background())
	require.NoError(t, err)
	require.NoError(t, l.Close())

	other, err := dataset.NewSnapshot(dataset.IrisSchema(), []dataset.Sample{{ID: 1, Features: []float64{1, 2, 3, 4}, Label: "x"}}, dataset.ScaleNone)
	require.NoError(t, err)
	l2, got, err := Open(dir, other, Options{})
	require.NoError(t, err)
	defer l2.Close()
	assert.EqualValues(t, 3, got.Version())
	assert.Equal(t, 150, got.Len())
}

func TestCodecRoundTrip(t *testing.T) {
	for _, c := range []dataset.Change{
		{Version: 2, Op: dataset.OpPut, Sample: dataset.Sample{ID: 1 << 62, Features: []float64{math.Copysign(0, -1), 1e308, -1e-308, 5e-324}, Label: "Iris-ﬁ"}},
		{Version: 1 << 63, Op: dataset.OpDelete, ID: 9},
		{Version: 3, Op: dataset.OpReset},
		{Version: 4, Op: dataset.OpImport, Import: &dataset.Import{Mode: dataset.ImportUpsert, Rows: 2}}, // a summary
		{Version: 5, Op: dataset.OpImport, Time: time.Unix(0, 1700000000123456000).UTC(), Actor: "ops", Import: &dataset.Import{Mode: dataset.ImportAppend, Rows: 2, Samples: []dataset.Sample{
			{ID: 7, Features: []float64{1, 2, 3, 4}, Label: "a"}, {ID: 8, Features: []float64{5, 6, 7, 8}, Label: "b"}}}}, // with its rows
	} {
		got, err := DecodeChange(EncodeChange(c), 4)
		require.NoError(t, err)
		assert.Equal(t, c, got)
		prefix := []byte("earlier records")
		assert.Equal(t, append(slices.Clone(prefix), frame(EncodeChange(c))...), appendFrame(slices.Clone(prefix), c),
			"a record encoded in place is the framed encoding")
	}
	_, err := DecodeChange([]byte{1, 2, 3}, 4)
	assert.Error(t, err)
	_, err = DecodeChange(append(EncodeChange(dataset.Change{Version: 2, Op: dataset.OpReset}), 0), 4)
	assert.Error(t, err)
	lying := EncodeChange(dataset.Change{Version: 2, Op: dataset.OpImport, Import: &dataset.Import{Rows: 1 << 40, Samples: []dataset.Sample{}}})
	_, err = DecodeChange(lying, 4)
	assert.Error(t, err, "a row count the bytes cannot hold is refused before allocating")
}

func FuzzReplay(f *testing.F) {
	snap := loaded(f)
	var seed []byte
	seed = append(seed, frame(EncodeChange(dataset.Change{Version: 2, Op: dataset.OpDelete, ID: 5}))...)
	seed = append(seed, frame(EncodeChange(dataset.Change{Version: 3, Op: dataset.OpReset}))...)
	f.Add(seed)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, log []byte) {
		dir := t.TempDir()
		l := &Log{dir: dir, snapshotWriter: writeFileAtomic}
		require.NoError(t, l.writeSnapshot(snap))
		require.NoError(t, os.WriteFile(filepath.Join(dir, LogFile), log, 0o640))
		// Any bytes: recovery either succeeds or reports an error; it
		// never panics.
		if l, _, err := Open(dir, snap, Options{}); err == nil {
			l.Close()
		}
	})
}

func TestDiskFailureRefusesWrites(t *testing.T) {
	dir := t.TempDir()
	l, snap := open(t, dir, Options{})
	m := dataset.NewMemory(snap, l)
	_, err := m.Delete(context.Background(), 1, dataset.Precondition{})
	require.NoError(t, err)
	before := m.Snapshot()

	l.f.Close() // the disk goes away under the log
	_, err = m.Delete(context.Background(), 2, dataset.Precondition{})
	require.Error(t, err)
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err), "a failed journal is a 503, not a 500")
	assert.Same(t, before, m.Snapshot(), "a change that was not recorded is not applied")
	_, err = m.Reset(context.Background())
	assert.Error(t, err, "the log stays refused until a restart")
}

// BenchmarkWrite measures one acknowledged write (a PUT) in memory only and
// through the log (append + fsync), to show what durability costs.
func BenchmarkWrite(b *testing.B) {
	for _, durable := range []bool{false, true} {
		name := "memory"
		if durable {
			name = "durable"
		}
		b.Run(name, func(b *testing.B) {
			snap := loaded(b)
			var j dataset.Journal
			if durable {
				l, s, err := Open(b.TempDir(), snap, Options{})
				require.NoError(b, err)
				defer l.Close()
				snap, j = s, l
			}
			m := dataset.NewMemory(snap, j)
			ctx := context.Background()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				s := dataset.Sample{ID: int64(1 + i%150), Features: []float64{5, 3, 1.5, float64(i%20) / 10}, Label: "setosa"}
				if _, _, err := m.Put(ctx, validOf(b, m, s), dataset.Precondition{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRecoversSchemaAndScaler checks that a data directory keeps a set of
// another shape with its scaler: after writes and a restart the schema,
// the scaler (as fitted at load, not refitted) and the samples as written
// come back, even when the server is then started with other data.
func TestRecoversSchemaAndScaler(t *testing.T) {
	for _, every := range []int{1, 1000} {
		table, err := dataset.ParseCSV(strings.NewReader("mean radius,diagnosis,mean texture\n17.99,malignant,10.38\n13.54,benign,14.36\n20.57,malignant,17.77\n"), "diagnosis")
		require.NoError(t, err)
		first, err := dataset.NewSnapshot(table.Schema, table.Samples, dataset.ScaleStandard)
		require.NoError(t, err)
		dir := t.TempDir()
		l, snap, err := Open(dir, first, Options{CompactEvery: every})
		require.NoError(t, err)
		m := dataset.NewMemory(snap, l)
		_, _, err = m.Create(context.Background(), valid(t, m, 0, []float64{0.1 + 0.2, 1e-9}, "benign"))
		require.NoError(t, err)
		_, err = m.Delete(context.Background(), 1, dataset.Precondition{})
		require.NoError(t, err)
		want := stateOf(m.Snapshot())
		require.NoError(t, l.Close())

		l2, got, err := Open(dir, loaded(t), Options{CompactEvery: every}) // Iris given: the recorded set wins
		require.NoError(t, err)
		assert.True(t, got.Schema().Equal(table.Schema), "CompactEvery=%d", every)
		assert.Equal(t, first.Scaler(), got.Scaler())
		assert.Equal(t, want, stateOf(got))
		require.NoError(t, l2.Close())
	}
}

// TestLargestIDSurvivesARestart puts the largest possible id, then enough
// writes for a compaction, and restarts: the directory opens again, and a
// create says no id is left instead of overflowing.
func TestLargestIDSurvivesARestart(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	l, snap := open(t, dir, Options{})
	m := dataset.NewMemory(snap, l)
	_, _, err := m.Put(ctx, valid(t, m, math.MaxInt64, []float64{5, 3, 1, 0.2}, "setosa"), dataset.Precondition{})
	require.NoError(t, err)
	for i := range 1100 {
		_, _, err := m.Put(ctx, valid(t, m, int64(1+i%150), []float64{5, 3, 1, float64(i%20) / 10}, "setosa"), dataset.Precondition{})
		require.NoError(t, err)
	}
	_, _, err = m.Create(ctx, valid(t, m, 0, []float64{5, 3, 1, 0.2}, "setosa"))
	assert.ErrorIs(t, err, dataset.ErrNoIDLeft)
	want := stateOf(m.Snapshot())
	require.NoError(t, l.Close())

	l2, got := open(t, dir, Options{})
	assert.Equal(t, want, stateOf(got))
	assert.Zero(t, got.NextID(), "no id is left")
	m2 := dataset.NewMemory(got, l2)
	_, _, err = m2.Create(ctx, valid(t, m2, 0, []float64{5, 3, 1, 0.2}, "setosa"))
	assert.Equal(t, dataset.KindConflict, dataset.ErrorKind(err))
}

// The shared helpers: valid checks a new sample for a store's set, validOf a whole sample.
var (
	valid   = datasettest.Valid
	validOf = datasettest.ValidOf
)

// TestFailingCompactionsBackOffAndWritesGoOn: while the snapshot cannot be
// written, every write still succeeds into the log, compactions are tried
// after a growing back-off rather than after every write, at most one ERROR
// is logged a minute, and once the writer works again the log compacts and
// nothing is lost.
func TestFailingCompactionsBackOffAndWritesGoOn(t *testing.T) {
	dir := t.TempDir()
	var logs bytes.Buffer
	l, snap := open(t, dir, Options{CompactEvery: 2, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	clock := time.Unix(1_700_000_000, 0)
	l.now = func() time.Time { return clock }
	var tries int
	failing := true
	l.snapshotWriter = func(dir, name string, b []byte) error {
		tries++
		if failing {
			return errors.New("no space left on device (a test)")
		}
		return writeFileAtomic(dir, name, b)
	}
	m := dataset.NewMemory(snap, l)
	write := func() {
		t.Helper()
		_, _, err := m.Create(context.Background(), valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
		require.NoError(t, err, "the log takes writes while compaction fails")
	}
	for range 200 { // no time passes: one try, then none until the back-off ends
		write()
	}
	assert.Equal(t, 1, tries, "compaction is not retried on every write")
	for range 20 { // a minute of writes, one every 3 s
		clock = clock.Add(3 * time.Second)
		write()
	}
	assert.LessOrEqual(t, tries, 7, "1 s, 2 s, 4 s, 8 s, 16 s, 32 s apart: a handful of tries in a minute")
	assert.GreaterOrEqual(t, l.CompactFailures(), 3)
	assert.LessOrEqual(t, strings.Count(logs.String(), "level=ERROR"), 2, "at most one ERROR a minute:\n%s", logs.String())
	assert.Contains(t, logs.String(), "failures_since_last_logged")

	failing = false
	clock = clock.Add(10 * time.Minute)
	write()
	assert.Zero(t, l.CompactFailures(), "compaction works again")
	assert.Contains(t, logs.String(), "log compaction works again")
	want := stateOf(m.Snapshot())
	require.NoError(t, l.Close())
	_, got := open(t, dir, Options{CompactEvery: 2})
	assert.Equal(t, want, stateOf(got), "every write survives")
}
