package dataset_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"github.com/irisknn/irisknn/internal/datasettest"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/knn"
)

func irisSnapshot(t testing.TB) *dataset.Snapshot {
	samples, err := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	require.NoError(t, err)
	snap, err := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	require.NoError(t, err)
	return snap
}

// TestAgreesWithScikitLearn compares predictions with scikit-learn's
// KNeighborsClassifier (testdata/gen_sklearn.py) for both metrics, both
// weightings and k in {1, 3, 5, 15}, wherever no tie decides the answer.
func TestAgreesWithScikitLearn(t *testing.T) {
	raw, err := os.ReadFile("testdata/sklearn_reference.json")
	require.NoError(t, err)
	var ref struct {
		Cases []struct {
			Features      []float64 `json:"features"`
			K             int       `json:"k"`
			Metric        string    `json:"metric"`
			Weights       string    `json:"weights"`
			Species       string    `json:"species"`
			Probabilities []float64 `json:"probabilities"`
			Distances     []float64 `json:"distances"`
			DecidedByTie  bool      `json:"decided_by_tie"`
		} `json:"cases"`
	}
	require.NoError(t, json.Unmarshal(raw, &ref))
	snap := irisSnapshot(t)
	checked := map[string]int{}
	var pr knn.Prediction
	for i, c := range ref.Cases {
		m, err := knn.ParseMetric(c.Metric)
		require.NoError(t, err)
		w, err := knn.ParseWeights(c.Weights)
		require.NoError(t, err)
		require.NoError(t, snap.Predict(&pr, c.Features, knn.Query{K: c.K, Metric: m, Weights: w}))
		// Distances do not depend on how ties are broken: always compare.
		for j, d := range c.Distances {
			require.InDelta(t, d, pr.Neighbors[j].Distance, 1e-9, "case %d neighbour %d", i, j)
		}
		if c.DecidedByTie {
			continue
		}
		desc := fmt.Sprintf("case %d: %v k=%d %s %s", i, c.Features, c.K, c.Metric, c.Weights)
		require.Equal(t, c.Species, snap.Classes()[pr.Class], desc)
		require.InDeltaSlice(t, c.Probabilities, pr.Probabilities, 1e-9, desc)
		require.False(t, pr.Tie, desc)
		checked[fmt.Sprintf("%s/%s/k=%d", c.Metric, c.Weights, c.K)]++
	}
	assert.Len(t, checked, 16, "every metric x weights x k combination is checked")
	for combo, n := range checked {
		assert.GreaterOrEqual(t, n, 50, combo)
	}
}

func TestParseCSVErrors(t *testing.T) {
	for _, tc := range []struct {
		name, csv, label, want string
	}{
		{"empty", "", "", "empty file"},
		{"header only", irisHeader + "\n", "", "no samples"},
		{"one column", "species\nsetosa\n", "", "line 1: the header has 1 column"},
		{"duplicate column", "a,b,a,species\n1,2,3,x\n", "", `line 1: column "a" appears twice`},
		{"empty column name", "a,,species\n1,2,x\n", "", "line 1: feature column 2"},
		{"unknown label", irisHeader + "\n1,2,3,4,setosa\n", "class", `line 1: no label column "class" (-label)`},
		{"short row", irisHeader + "\n1,2,3,setosa\n", "", "line 2: 4 fields, but the header has 5 columns"},
		{"long row", irisHeader + "\n1,2,3,4,5,setosa\n", "", "line 2: 6 fields, but the header has 5 columns"},
		{"not a number", irisHeader + "\n1,2,x,4,setosa\n", "", `line 2: petal_length: "x" is not a number`},
		{"NaN", irisHeader + "\n1,2,3,NaN,setosa\n", "", "line 2: petal_width"},
		{"Inf", irisHeader + "\n1,2,3,4,setosa\n1,Inf,3,4,setosa\n", "", "line 3: sepal_width"},
		{"overflow", irisHeader + "\n1e999,2,3,4,setosa\n", "", "line 2: sepal_length"},
		{"underflow", irisHeader + "\n1e-400,2,3,4,setosa\n", "", "line 2: sepal_length: \"1e-400\" is not a number this service accepts: too small"},
		{"subnormal", irisHeader + "\n1e-320,2,3,4,setosa\n", "", "line 2: sepal_length"},
		{"digit separator", irisHeader + "\n1_0,2,3,4,setosa\n", "", `line 2: sepal_length: "1_0" is not a number`},
		{"hexadecimal", irisHeader + "\n0x10,2,3,4,setosa\n", "", `line 2: sepal_length: "0x10"`},
		{"empty label", irisHeader + "\n1,2,3,4, \n", "", "line 2: species: empty label"},
		{"label as a feature", "a,b,class\n1,x,c\n", "class", `line 2: b: "x"`},
		{"bad quote", irisHeader + "\n1,2,3,4,\"setosa\n", "", "line"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := dataset.ParseCSV(strings.NewReader(tc.csv), tc.label)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

// TestParseCSVSchemaFromHeader checks that the header decides the schema:
// the features in header order, the label column chosen by name, by the
// default "species", or as the last column.
func TestParseCSVSchemaFromHeader(t *testing.T) {
	for _, tc := range []struct {
		name, csv, label string
		features         []string
		wantLabel        string
		first            dataset.Sample
	}{
		{"species anywhere", "species,petal_width,petal_length,sepal_width,sepal_length\nb,4,3,2,1\n", "",
			[]string{"petal_width", "petal_length", "sepal_width", "sepal_length"}, "species",
			dataset.Sample{ID: 1, Features: []float64{4, 3, 2, 1}, Label: "b"}},
		{"last column by default", "alcohol,malic acid (g/l),class\n13.2, 1.78 ,2\n", "",
			[]string{"alcohol", "malic acid (g/l)"}, "class",
			dataset.Sample{ID: 1, Features: []float64{13.2, 1.78}, Label: "2"}},
		{"named label", "diagnosis,mean radius,mean texture\nmalignant,17.99,10.38\n", "diagnosis",
			[]string{"mean radius", "mean texture"}, "diagnosis",
			dataset.Sample{ID: 1, Features: []float64{17.99, 10.38}, Label: "malignant"}},
		{"one feature", "x,y\n.5,a\n", "",
			[]string{"x"}, "y", dataset.Sample{ID: 1, Features: []float64{0.5}, Label: "a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table, err := dataset.ParseCSV(strings.NewReader(tc.csv), tc.label)
			require.NoError(t, err)
			assert.Equal(t, tc.features, table.Schema.Features())
			assert.Equal(t, tc.wantLabel, table.Schema.Label())
			assert.Equal(t, []dataset.Sample{tc.first}, table.Samples)

			var buf bytes.Buffer
			require.NoError(t, dataset.WriteCSV(&buf, table.Schema, table.Samples))
			again, err := dataset.ParseCSV(&buf, tc.wantLabel)
			require.NoError(t, err)
			assert.Equal(t, table, again, "WriteCSV writes what ParseCSV reads")
		})
	}
}

// TestParseCSVManyFeatures loads a dataset with the most features allowed
// and refuses one more.
func TestParseCSVManyFeatures(t *testing.T) {
	csvOf := func(n int) string {
		var head, row []string
		for i := range n {
			head = append(head, fmt.Sprintf("feature %d", i))
			row = append(row, strconv.Itoa(i))
		}
		return strings.Join(append(head, "label"), ",") + "\n" + strings.Join(append(row, "x"), ",") + "\n"
	}
	table, err := dataset.ParseCSV(strings.NewReader(csvOf(dataset.MaxFeatures)), "")
	require.NoError(t, err)
	assert.Equal(t, dataset.MaxFeatures, table.Schema.Dim())
	_, err = dataset.ParseCSV(strings.NewReader(csvOf(dataset.MaxFeatures+1)), "")
	assert.ErrorContains(t, err, "want 1 to 1024")
}

func TestSnapshotListAndGet(t *testing.T) {
	snap := irisSnapshot(t)
	assert.Equal(t, uint64(1), snap.Version())
	assert.Equal(t, 150, snap.Len())
	assert.Equal(t, int64(151), snap.NextID())
	assert.Equal(t, []string{"setosa", "versicolor", "virginica"}, snap.Classes())
	assert.Equal(t, []int{50, 50, 50}, snap.Counts())

	page, total := snap.List(dataset.Filter{Limit: 3, Offset: 148})
	assert.Equal(t, 150, total)
	require.Len(t, page, 2)
	assert.Equal(t, int64(149), page[0].ID)

	page, total = snap.List(dataset.Filter{Label: "versicolor", Limit: 2, Offset: 49})
	assert.Equal(t, 50, total)
	require.Len(t, page, 1)
	assert.Equal(t, int64(100), page[0].ID)

	page, total = snap.List(dataset.Filter{Limit: 10, Offset: 1000})
	assert.Equal(t, 150, total)
	assert.Empty(t, page)

	s, ok := snap.Get(51)
	require.True(t, ok)
	assert.Equal(t, "versicolor", s.Label)
	_, ok = snap.Get(151)
	assert.False(t, ok)
}

func TestMemoryStoreWrites(t *testing.T) {
	ctx := context.Background()
	snap0 := irisSnapshot(t)
	m := dataset.NewMemory(snap0, nil)

	// Create assigns one more than the largest id ever used.
	s, snap, err := m.Create(ctx, valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, int64(151), s.ID)
	assert.Equal(t, uint64(2), snap.Version())
	assert.Equal(t, 151, snap.Len())
	assert.Equal(t, 150, snap0.Len(), "an old snapshot never changes")

	// Put creates with the client's id and moves the counter past it.
	created, snap, err := m.Put(ctx, validOf(t, m, dataset.Sample{ID: 500, Features: []float64{1, 1, 1, 1}, Label: "virginica"}), dataset.Precondition{})
	require.NoError(t, err)
	assert.True(t, created)
	assert.Equal(t, int64(501), snap.NextID())

	// Put replaces.
	created, snap, err = m.Put(ctx, validOf(t, m, dataset.Sample{ID: 1, Features: []float64{9, 9, 9, 9}, Label: "virginica"}), dataset.Precondition{})
	require.NoError(t, err)
	assert.False(t, created)
	got, _ := snap.Get(1)
	assert.Equal(t, []float64{9, 9, 9, 9}, got.Features)

	// Deleted ids are never handed out again.
	snap, err = m.Delete(ctx, 500, dataset.Precondition{})
	require.NoError(t, err)
	_, still := snap.Get(500)
	assert.False(t, still)
	s, _, err = m.Create(ctx, valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	require.NoError(t, err)
	assert.Equal(t, int64(501), s.ID)

	// Reset restores the shipped rows, keeps the counter, bumps the version.
	before := m.Snapshot().Version()
	snap, err = m.Reset(ctx)
	require.NoError(t, err)
	assert.Equal(t, before+1, snap.Version())
	assert.Equal(t, 150, snap.Len())
	got, _ = snap.Get(1)
	assert.Equal(t, []float64{5.1, 3.5, 1.4, 0.2}, got.Features)
	assert.Equal(t, int64(502), snap.NextID())

	// Errors, and no version change for them.
	v := m.Snapshot().Version()
	_, err = m.Delete(ctx, 9999, dataset.Precondition{})
	assert.Equal(t, dataset.KindNotFound, dataset.ErrorKind(err))
	// An invalid sample never reaches the store: NewSample refuses it.
	cur := m.Snapshot()
	for _, x := range []dataset.Sample{
		{ID: 0, Features: []float64{1, 2, 3, 4}, Label: "rose"},
		{ID: -1, Features: []float64{1, 2, 3, 4}, Label: "setosa"},
		{ID: 1, Features: []float64{1, 2, 3}, Label: "setosa"},
		{ID: 1, Features: []float64{1, 2, 3, math.NaN()}, Label: "setosa"},
	} {
		_, err := cur.NewSample(x.ID, x.Features, x.Label)
		assert.Equal(t, dataset.KindInvalid, dataset.ErrorKind(err), "%v", x)
	}
	// A sample checked for another set is refused.
	other := dataset.NewMemory(irisSnapshot(t), nil)
	_, _, err = m.Create(ctx, valid(t, other, 0, []float64{1, 2, 3, 4}, "setosa"))
	assert.Error(t, err)
	_, _, err = m.Put(ctx, dataset.ValidSample{}, dataset.Precondition{})
	assert.Error(t, err, "a sample never checked")
	assert.Equal(t, v, m.Snapshot().Version())
}

func TestMemoryStoreIfMatch(t *testing.T) {
	ctx := context.Background()
	m := dataset.NewMemory(irisSnapshot(t), nil)
	cur, _ := m.Snapshot().Get(7)
	rev := dataset.IfRevision(cur.Revision())

	next := cur
	next.Features = []float64{7.7, 3, 1, 0.2}
	_, _, err := m.Put(ctx, validOf(t, m, next), dataset.IfRevision(12345))
	assert.Equal(t, dataset.KindPrecondition, dataset.ErrorKind(err))
	_, _, err = m.Put(ctx, validOf(t, m, next), dataset.IfRevision(1, cur.Revision()))
	require.NoError(t, err, "one of several revisions")
	_, _, err = m.Put(ctx, validOf(t, m, next), rev) // the revision changed with the content
	assert.Equal(t, dataset.KindPrecondition, dataset.ErrorKind(err))
	_, _, err = m.Put(ctx, validOf(t, m, dataset.Sample{ID: 999, Features: []float64{1, 2, 3, 4}, Label: "setosa"}), dataset.IfExists())
	assert.Equal(t, dataset.KindPrecondition, dataset.ErrorKind(err), "If-Match on an absent sample")
	_, err = m.Delete(ctx, 7, dataset.IfRevision())
	assert.Equal(t, dataset.KindPrecondition, dataset.ErrorKind(err))
	_, err = m.Delete(ctx, 7, dataset.IfExists())
	require.NoError(t, err)
}

func TestCannotDeleteLastSample(t *testing.T) {
	snap, err := dataset.NewSnapshot(dataset.IrisSchema(), []dataset.Sample{{ID: 1, Features: []float64{1, 2, 3, 4}, Label: "a"}}, dataset.ScaleNone)
	require.NoError(t, err)
	m := dataset.NewMemory(snap, nil)
	_, err = m.Delete(context.Background(), 1, dataset.Precondition{})
	assert.Equal(t, dataset.KindConflict, dataset.ErrorKind(err))
}

// recorder is a Journal that keeps the changes, and fails on demand.
type recorder struct {
	changes []dataset.Change
	fail    error
}

func (r *recorder) Record(_ context.Context, c dataset.Change) error {
	if r.fail != nil {
		return r.fail
	}
	r.changes = append(r.changes, c)
	return nil
}

func TestJournalReplayRebuildsTheSet(t *testing.T) {
	ctx := context.Background()
	j := &recorder{}
	m := dataset.NewMemory(irisSnapshot(t), j)
	_, _, _ = m.Create(ctx, valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	_, _, _ = m.Put(ctx, validOf(t, m, dataset.Sample{ID: 3, Features: []float64{4, 4, 4, 4}, Label: "virginica"}), dataset.Precondition{})
	_, _ = m.Delete(ctx, 10, dataset.Precondition{})
	_, _ = m.Reset(ctx)
	_, _ = m.Delete(ctx, 11, dataset.Precondition{})
	require.Len(t, j.changes, 5)

	replayed := irisSnapshot(t)
	for _, c := range j.changes {
		next, err := replayed.Apply(c)
		require.NoError(t, err)
		replayed = next
	}
	assertSameSet(t, m.Snapshot(), replayed)

	// A change out of order is refused.
	_, err := replayed.Apply(j.changes[0])
	assert.ErrorIs(t, err, dataset.ErrVersion)

	// A journal failure leaves the set unchanged.
	j.fail = fmt.Errorf("disk full")
	v := m.Snapshot().Version()
	_, _, err = m.Create(ctx, valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	assert.Equal(t, dataset.KindUnavailable, dataset.ErrorKind(err))
	assert.Equal(t, v, m.Snapshot().Version())
}

func TestRestoreSnapshot(t *testing.T) {
	orig := irisSnapshot(t)
	m := dataset.NewMemory(orig, nil)
	_, _, _ = m.Create(context.Background(), valid(t, m, 0, []float64{1, 2, 3, 4}, "setosa"))
	_, _ = m.Delete(context.Background(), 2, dataset.Precondition{})
	cur := m.Snapshot()
	var samples []dataset.Sample
	cur.All(func(s dataset.Sample) bool { samples = append(samples, s); return true })

	restored, err := dataset.RestoreSnapshot(dataset.State{Schema: cur.Schema(), Initial: cur.Initial(), Current: samples, Version: cur.Version(), Next: cur.Next()})
	require.NoError(t, err)
	assertSameSet(t, cur, restored)

	_, err = dataset.RestoreSnapshot(dataset.State{Schema: cur.Schema(), Initial: cur.Initial(), Current: samples, Version: cur.Version(), Next: 5})
	assert.Error(t, err, "next id below an existing id")
	_, err = dataset.RestoreSnapshot(dataset.State{Schema: cur.Schema(), Initial: cur.Initial(), Current: append(samples, samples[0]), Version: cur.Version(), Next: cur.Next()})
	assert.Error(t, err, "duplicate id")
}

func assertSameSet(t *testing.T, want, got *dataset.Snapshot) {
	t.Helper()
	assert.Equal(t, want.Version(), got.Version())
	assert.Equal(t, want.NextID(), got.NextID())
	wp, _ := want.List(dataset.Filter{Limit: 1 << 30})
	gp, _ := got.List(dataset.Filter{Limit: 1 << 30})
	assert.Equal(t, wp, gp)
}

// TestConcurrentReadersSeeOneVersion runs writers and predicting readers
// together (meaningful under -race): every reader's snapshot stays
// internally consistent while versions move on.
func TestConcurrentReadersSeeOneVersion(t *testing.T) {
	ctx := context.Background()
	m := dataset.NewMemory(irisSnapshot(t), nil)
	var wg sync.WaitGroup
	for w := range 2 {
		wg.Go(func() {
			for i := range 100 {
				s, _, err := m.Create(ctx, valid(t, m, 0, []float64{float64(w), float64(i), 1, 1}, "setosa"))
				if !assert.NoError(t, err) {
					return
				}
				_, err = m.Delete(ctx, s.ID, dataset.Precondition{})
				assert.NoError(t, err)
			}
		})
	}
	for range 4 {
		wg.Go(func() {
			var pr knn.Prediction
			for range 300 {
				snap := m.Snapshot()
				n := snap.Len()
				if !assert.NoError(t, snap.Predict(&pr, []float64{1, 1, 1, 1}, knn.Query{K: n})) {
					return
				}
				// Every neighbour of a k=n query is a sample of this snapshot.
				for _, nb := range pr.Neighbors {
					_, ok := snap.Get(nb.ID)
					assert.True(t, ok)
				}
				assert.Len(t, pr.Neighbors, n)
			}
		})
	}
	wg.Wait()
	assert.Equal(t, uint64(401), m.Snapshot().Version())
	assert.Equal(t, 150, m.Snapshot().Len())
}

func TestPredictBatchMatchesSingle(t *testing.T) {
	snap := irisSnapshot(t)
	var fs [][]float64
	snap.All(func(s dataset.Sample) bool { fs = append(fs, s.Features); return true })
	q := knn.Query{K: 7, Metric: knn.Manhattan, Weights: knn.Distance}
	out := make([]knn.Prediction, len(fs))
	require.NoError(t, snap.PredictBatch(context.Background(), out, fs, q))
	for i, f := range fs {
		var pr knn.Prediction
		require.NoError(t, snap.Predict(&pr, f, q))
		assert.Equal(t, pr, out[i])
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.ErrorIs(t, snap.PredictBatch(ctx, out, fs, q), context.Canceled)
}

func ExampleSnapshot_Predict() {
	samples, _ := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	snap, _ := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	var pr knn.Prediction
	_ = snap.Predict(&pr, []float64{6.0, 3.0, 4.8, 1.8}, knn.Query{K: 5, Metric: knn.Euclidean, Weights: knn.Uniform})
	fmt.Println(snap.Classes()[pr.Class], pr.Probabilities)
	for _, n := range pr.Neighbors {
		fmt.Printf("%d %s %.3f\n", n.ID, snap.Classes()[n.Label], n.Distance)
	}
	// Output:
	// virginica [0 0.2 0.8]
	// 139 virginica 0.000
	// 128 virginica 0.141
	// 71 versicolor 0.224
	// 127 virginica 0.283
	// 150 virginica 0.316
}

// irisHeader is the header of the shipped Iris CSV.
const irisHeader = "sepal_length,sepal_width,petal_length,petal_width,species"

// The shared helpers: valid checks a new sample for a store's set, validOf a whole sample.
var (
	valid   = datasettest.Valid
	validOf = datasettest.ValidOf
)
