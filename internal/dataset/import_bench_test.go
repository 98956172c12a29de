package dataset

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"
)

// processCPU returns the CPU time (user + system) of this process so far:
// on a shared machine, what an operation costs without the time it waited
// for a core.
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkImportCSV measures the import pipeline in memory (no HTTP, no
// disk): stream-parse a CSV of n rows, check each row, apply them as one
// replace; and the CSV export of the result.
func BenchmarkImportCSV(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	rng := rand.New(rand.NewPCG(1, 1))
	var buf bytes.Buffer
	buf.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	for range n {
		fmt.Fprintf(&buf, "%.3f,%.3f,%.3f,%.3f,%s\n", rng.Float64()*8, rng.Float64()*5, rng.Float64()*7, rng.Float64()*3, []string{"setosa", "versicolor", "virginica"}[rng.IntN(3)])
	}
	m := NewMemory(benchSnapshot(b, 150), nil)
	b.Run(fmt.Sprintf("import/rows=%d", n), func(b *testing.B) {
		cpu0 := processCPU()
		for b.Loop() {
			rows, err := NewCSVRows(bytes.NewReader(buf.Bytes()), m.Snapshot().Schema())
			if err != nil {
				b.Fatal(err)
			}
			got, err := NewImportReader(m.Snapshot(), ImportReplace, rows.Next).ReadAll()
			if err != nil {
				b.Fatal(err)
			}
			snap, err := m.Import(context.Background(), ImportReplace, got, false)
			if err != nil || snap.Len() != n {
				b.Fatal(err, snap.Len())
			}
		}
		b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
	b.Run(fmt.Sprintf("export/rows=%d", n), func(b *testing.B) {
		snap := m.Snapshot()
		cpu0 := processCPU()
		for b.Loop() {
			if err := snap.WriteCSVWithIDs(io.Discard, ""); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(snap.Len())*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
		b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
	})
}
