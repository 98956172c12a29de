package wal_test

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/wal"
)

// A store that records through a Log survives a restart: Open recovers the
// set, its version and the next id.
func Example() {
	dir, _ := os.MkdirTemp("", "irisknn-wal")
	defer os.RemoveAll(dir)
	samples, _ := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	loaded, _ := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)

	l, snap, err := wal.Open(dir, loaded, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	store := dataset.NewMemory(snap, l)
	v, _ := store.Snapshot().NewSample(0, []float64{6.1, 2.8, 4.7, 1.2}, "versicolor")
	s, _, _ := store.Create(context.Background(), v)
	store.Delete(context.Background(), 7, dataset.Precondition{})
	l.Close() // or a crash: every acknowledged write is already on disk

	l, snap, err = wal.Open(dir, loaded, wal.Options{})
	if err != nil {
		log.Fatal(err)
	}
	defer l.Close()
	got, _ := snap.Get(s.ID)
	_, has7 := snap.Get(7)
	fmt.Println(snap.Version(), snap.Len(), snap.NextID(), got.Label, has7)
	// Output: 3 150 152 versicolor false
}
