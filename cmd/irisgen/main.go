// Command irisgen writes a synthetic training set in the CSV format that
// irisd -data reads: n rows of four uniform random measurements in [0, 10)
// cm (three decimals) and one of the three Iris species, reproducible from
// a seed. It exists so that big data sets are generated, never committed:
//
//	go run ./cmd/irisgen -n 1000000 -seed 1 -o /tmp/iris-1m.csv
package main

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/irisknn/irisknn/internal/dataset"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "irisgen:", err)
		os.Exit(1)
	}
}

// species are the labels drawn, uniformly.
var species = []string{"setosa", "versicolor", "virginica"}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("irisgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	n := fs.Int("n", 1_000_000, "number of rows")
	seed := fs.Uint64("seed", 1, "random seed: the same seed gives the same file")
	out := fs.String("o", "-", "output file (- for standard output)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *n < 1 {
		return fmt.Errorf("-n must be at least 1, got %d", *n)
	}
	w := stdout
	if *out != "-" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	if err := generate(w, *n, *seed); err != nil {
		return err
	}
	if f, ok := w.(*os.File); ok && *out != "-" {
		return f.Close()
	}
	return nil
}

// generate writes the header and n rows.
func generate(w io.Writer, n int, seed uint64) error {
	bw := bufio.NewWriterSize(w, 1<<16)
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	schema := dataset.IrisSchema()
	bw.WriteString(strings.Join(append(slices.Clone(schema.Features()), schema.Label()), ",") + "\n")
	var line []byte
	for range n {
		line = line[:0]
		for range schema.Dim() {
			// Thousandths of a cm: an integer, so the text is exact.
			line = strconv.AppendFloat(line, float64(rng.IntN(10_000))/1000, 'f', -1, 64)
			line = append(line, ',')
		}
		line = append(line, species[rng.IntN(len(species))]...)
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return err
		}
	}
	return bw.Flush()
}
