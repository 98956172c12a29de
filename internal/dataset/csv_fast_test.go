package dataset

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// parseBoth parses data with the fast path and with encoding/csv and
// fails unless they agree on the samples and on the error message.
func parseBoth(t testing.TB, data []byte) {
	fast, ferr := parseCSVFast(bytes.Clone(data), "")
	slow, serr := parseCSVReader(bytes.NewReader(data), "")
	if (ferr == nil) != (serr == nil) || (ferr != nil && ferr.Error() != serr.Error()) {
		t.Fatalf("input %q:\nfast: %v\nslow: %v", data, ferr, serr)
	}
	if ferr == nil && (fmt.Sprint(fast.Samples) != fmt.Sprint(slow.Samples) || !fast.Schema.Equal(slow.Schema)) {
		t.Fatalf("input %q:\nfast: %v\nslow: %v", data, fast, slow)
	}
}

var csvSeeds = []string{
	irisHeader + "\n5.1,3.5,1.4,0.2,setosa\n",
	irisHeader + "\r\n5.1,3.5,1.4,0.2,setosa\r\n\r\n4.9,3,1.4,0.2,versicolor",
	"species,petal_width,petal_length,sepal_width,sepal_length\nsetosa,1,2,3,4\n",
	"\n\n" + irisHeader + "\n1,2,3,4,a\n\n\n1,2,3,x,a\n",
	irisHeader + "\n1,2,3,4\n",
	irisHeader + "\n1,2,3,4,a,b\n",
	irisHeader + "\n 1 , 2 ,3,4 , a \r",
	irisHeader + "\n1,2,3,4,a\r\r\n",
	irisHeader + "\n1,2,3,NaN,a\n",
	irisHeader + "\n1,2,3,1e400,a\n",
	irisHeader + "\n1,2,3,-inf,a\n",
	irisHeader + "\n1,2,3,0x1p-2,a\n",
	irisHeader + "\n1,2,3,4,\n",
	irisHeader + "\n",
	"",
	"\r\n",
	"a,b,c\n",
	"sepal_length,sepal_width,petal_length,petal_width,petal_width\n1,2,3,4,5\n",
	"\ufeffSepal_Length,sepal_width,petal_length,petal_width,SPECIES\n1,2,3,4,a\n",
	irisHeader + "\n1,2,3,4,a\xff\n",
	irisHeader + "\n1,2,3,4,a\tb\n",
	irisHeader + "\n1,2,3,4,a\rb\n",
	irisHeader + "\n1_0,2,3,4,a\n",
}

func TestParseCSVFastMatchesEncodingCSV(t *testing.T) {
	for _, s := range csvSeeds {
		parseBoth(t, []byte(s))
	}
	// Random mutations of the seeds over an alphabet of the characters that
	// matter (no quotes: those always take the encoding/csv path).
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("0123456789.,-+eE \t\r\n\r\nabcnNaIf_x\xff")
	n := 20000
	if testing.Short() {
		n = 3000
	}
	for range n {
		b := []byte(csvSeeds[rng.IntN(len(csvSeeds))])
		for range 1 + rng.IntN(4) {
			i := rng.IntN(len(b) + 1)
			switch rng.IntN(3) {
			case 0: // insert
				b = append(b[:i], append([]byte{alphabet[rng.IntN(len(alphabet))]}, b[i:]...)...)
			case 1: // delete
				if i < len(b) {
					b = append(b[:i], b[i+1:]...)
				}
			default: // replace
				if i < len(b) {
					b[i] = alphabet[rng.IntN(len(alphabet))]
				}
			}
		}
		parseBoth(t, b)
	}
}

// TestParseCSVParallelParts checks the split of a big file: ids, line
// numbers in errors and the first error win across parts.
func TestParseCSVParallelParts(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	samples := randomSamples(rng, 300_000) // > 4 MiB of text
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, IrisSchema(), samples))
	text := buf.Bytes()
	got, err := ParseCSV(bytes.NewReader(text), "")
	require.NoError(t, err)
	assert.Equal(t, samples, got.Samples)
	// Break two lines, one in each half: the error names the first.
	lines := bytes.Split(bytes.Clone(text), []byte{'\n'})
	lines[200_000] = []byte("1,2,3,x,setosa")
	lines[100_001] = []byte("1,2,3,4")
	_, err = ParseCSV(bytes.NewReader(bytes.Join(lines, []byte{'\n'})), "")
	assert.EqualError(t, err, "line 100002: 4 fields, but the header has 5 columns")
	lines[100_001] = []byte("1,2,3,4,setosa")
	_, err = ParseCSV(bytes.NewReader(bytes.Join(lines, []byte{'\n'})), "")
	assert.EqualError(t, err, `line 200001: petal_width: "x" is not a number this service accepts: not a decimal number`)
}

func TestParseCSVQuotedUsesEncodingCSV(t *testing.T) {
	got, err := ParseCSV(strings.NewReader(irisHeader+"\n1,2,3,4,\"iris, setosa\"\n"), "")
	require.NoError(t, err)
	assert.Equal(t, "iris, setosa", got.Samples[0].Label)
	_, err = ParseCSV(strings.NewReader(irisHeader+"\n1,2,3,4,\"setosa\n"), "")
	assert.ErrorContains(t, err, "line 2")
}

func TestWriteCSVRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	samples := randomSamples(rng, 500)
	var buf bytes.Buffer
	require.NoError(t, WriteCSV(&buf, IrisSchema(), samples))
	got, err := ParseCSV(&buf, "")
	require.NoError(t, err)
	assert.Equal(t, samples, got.Samples)
}

func FuzzParseCSVFastMatchesEncodingCSV(f *testing.F) {
	for _, s := range csvSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if bytes.IndexByte(data, '"') >= 0 {
			_, _ = ParseCSV(bytes.NewReader(data), "") // must not panic
			return
		}
		parseBoth(t, data)
	})
}

// irisHeader is the header of the shipped Iris CSV.
const irisHeader = "sepal_length,sepal_width,petal_length,petal_width,species"
