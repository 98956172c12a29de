package httpapi

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

// describeSample renders a sample decode outcome for comparison.
func describeSample(req sampleRequest, err error) string {
	if err != nil {
		status, msg, fields := errorStatus(err)
		return fmt.Sprintf("error %d %q %v", status, msg, fields)
	}
	out := "ok"
	if req.ID != nil {
		out += fmt.Sprintf(" id=%d", *req.ID)
	}
	if req.Features != nil {
		out += fmt.Sprintf(" features=%#v", *req.Features)
	}
	if req.Label != nil {
		out += fmt.Sprintf(" label=%q", *req.Label)
	}
	return out
}

// sampleSchemas are the schemas the sample decoder is checked with: Iris,
// and a set whose label is not "species".
func sampleSchemas(t testing.TB) []*dataset.Schema {
	t.Helper()
	other, err := dataset.NewSchema([]string{"a", "b"}, "diagnosis")
	require.NoError(t, err)
	return []*dataset.Schema{dataset.IrisSchema(), other}
}

// checkSameSample fails unless the fast sample decoder gives exactly what
// the encoding/json path gives for body, and reports whether the fast
// path itself accepted it.
func checkSameSample(t testing.TB, schema *dataset.Schema, body []byte) bool {
	want, werr := decodeSampleSlow(bytes.Clone(body), schema)
	got, gerr := decodeSampleJSON(bytes.Clone(body), schema)
	if describeSample(want, werr) != describeSample(got, gerr) || (werr == nil && !reflect.DeepEqual(want, got)) {
		t.Fatalf("schema %v, body %q:\nencoding/json: %s\nfast:          %s", schema.Features(), body, describeSample(want, werr), describeSample(got, gerr))
	}
	p := predictParser{b: body, schema: schema}
	_, ok := p.sample()
	return ok
}

var sampleSeeds = []string{
	`{"features":[5.1,3.5,1.4,0.2],"species":"setosa"}`,
	` { "id" : 7 , "species" : "virginica" , "features" : [ 5 , 3 , 1 , 0 ] } `,
	`{"features":{"sepal_length":5.1,"sepal_width":3.5,"petal_length":1.4,"petal_width":0.2},"species":"setosa"}`,
	`{"features":[1,2],"diagnosis":"malignant"}`,
	`{"id":-3,"features":{"a":1,"b":2},"diagnosis":"benign"}`,
	`{"id":9223372036854775807,"features":[1,2,3,4],"species":"x"}`,
	`{"id":9223372036854775808,"features":[1,2,3,4],"species":"x"}`,
	`{"id":1.0,"features":[1,2,3,4],"species":"x"}`,
	`{"id":"1","features":[1,2,3,4],"species":"x"}`,
	`{"id":null,"features":[1,2,3,4],"species":"x"}`,
	`{"features":[1,2,3,null],"species":"x"}`,
	`{"features":[1,2,3,4],"species":null}`,
	`{"features":[1,2,3,4],"species":""}`,
	`{"features":[1,2,3,4],"species":"se\u0074osa"}`,
	`{"features":[1,2,3,4],"species":"séto"}`,
	`{"features":[1,2,3,4],"species":7}`,
	`{"features":[1,2,3,4],"Species":"x"}`,
	`{"FEATURES":[1,2,3,4],"species":"x"}`,
	`{"features":[1,2,3,4],"features":[4,3,2,1],"species":"x"}`,
	`{"features":[1,2,3,4],"species":"x","species":"y"}`,
	`{"features":[1,2,3],"species":"x"}`,
	`{"features":[1,2,3,1e400],"species":"x"}`,
	`{"features":[1,2,3,1e-400],"species":"x"}`,
	`{"features":{"sepal_length":1},"species":"x"}`,
	`{"features":[1,2,3,4],"species":"x","color":1}`,
	`{"features":[1,2,3,4],"species":"x"} {}`,
	`{"features":[1,2,3,4],"species":"x"`,
	`{"species":"x"}`,
	`{"features":[1,2,3,4]}`,
	`{}`,
	`[]`,
	``,
	`null`,
}

func TestDecodeSampleMatchesEncodingJSON(t *testing.T) {
	schemas := sampleSchemas(t)
	fast := 0
	for _, schema := range schemas {
		for _, s := range sampleSeeds {
			if checkSameSample(t, schema, []byte(s)) {
				fast++
			}
		}
	}
	assert.GreaterOrEqual(t, fast, 5, "the fast path takes the common bodies")
	assert.True(t, checkSameSample(t, schemas[0], []byte(sampleSeeds[0])), "the plain sample takes the fast path")
	assert.True(t, checkSameSample(t, schemas[0], []byte(sampleSeeds[2])), "the named form takes the fast path")
	assert.True(t, checkSameSample(t, schemas[1], []byte(sampleSeeds[4])), "another label takes the fast path")

	// Mutations of the seeds with the bytes that matter to JSON.
	rng := rand.New(rand.NewPCG(21, 22))
	alphabet := []byte(`{}[],:" 0123456789.eE+-nulltrueidspecsfatur\` + "\t\n\x00\xff")
	n := 30000
	if testing.Short() {
		n = 5000
	}
	for range n {
		schema := schemas[rng.IntN(len(schemas))]
		checkSameSample(t, schema, mutate(rng, sampleSeeds[rng.IntN(len(sampleSeeds))], alphabet))
	}
}

// A label named like an API field ("id", "features") is left to the
// encoding/json path, which knows what such a body means.
func TestDecodeSampleLabelNamedLikeAField(t *testing.T) {
	for _, label := range []string{"id", "features"} {
		schema, err := dataset.NewSchema([]string{"a", "b"}, label)
		if err != nil {
			continue // the schema refuses the name: nothing to decode
		}
		body := []byte(fmt.Sprintf(`{"features":[1,2],%q:"x"}`, label))
		assert.False(t, checkSameSample(t, schema, body), label)
	}
}

func FuzzDecodeSample(f *testing.F) {
	for _, s := range sampleSeeds {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, body []byte, other bool) {
		schemas := sampleSchemas(t)
		schema := schemas[0]
		if other {
			schema = schemas[1]
		}
		checkSameSample(t, schema, body)
	})
}

func BenchmarkDecodeSample(b *testing.B) {
	body := []byte(`{"features":[5.1,3.5,1.4,0.2],"species":"setosa"}`)
	for _, tc := range []struct {
		name   string
		decode func([]byte, *dataset.Schema) (sampleRequest, error)
	}{{"fast", decodeSampleJSON}, {"encoding-json", decodeSampleSlow}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.decode(body, dataset.IrisSchema()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
