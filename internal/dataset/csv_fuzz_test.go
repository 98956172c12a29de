package dataset

import (
	"bytes"
	"math"
	"testing"
)

// FuzzParseCSV feeds arbitrary files to ParseCSV: it must never panic, and
// whatever it accepts must be a valid training set (finite features, valid
// labels, ids 1..n) that NewSnapshot takes or rejects with an error.
func FuzzParseCSV(f *testing.F) {
	f.Add([]byte(irisHeader + "\n5.1,3.5,1.4,0.2,setosa\n7.0,3.2,4.7,1.4,versicolor\n"))
	f.Add([]byte("species,petal_width,petal_length,sepal_width,sepal_length\nsetosa,0.2,1.4,3.5,5.1\n"))
	f.Add([]byte(irisHeader + "\r\n1,2,3,4,\"a,b\"\r\n"))
	f.Add([]byte(irisHeader + "\nNaN,1,1,1,x\n"))
	f.Add([]byte(irisHeader + "\n1e309,1,1,1,x\n"))
	f.Add([]byte(irisHeader + "\n1,2,3\n"))
	f.Add([]byte("\ufeff" + irisHeader + "\n1,2,3,4,x\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		table, err := ParseCSV(bytes.NewReader(b), "")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		samples := table.Samples
		for i, s := range samples {
			if s.ID != int64(i+1) {
				t.Fatalf("sample %d has id %d", i, s.ID)
			}
			for _, v := range s.Features {
				if math.IsNaN(v) || math.IsInf(v, 0) {
					t.Fatalf("sample %d: non-finite feature %v accepted", s.ID, v)
				}
			}
			if err := CheckLabel(s.Label); err != nil {
				t.Fatalf("sample %d: invalid label %q accepted: %v", s.ID, s.Label, err)
			}
			if len(s.Features) != table.Schema.Dim() {
				t.Fatalf("sample %d has %d features, the schema %d", s.ID, len(s.Features), table.Schema.Dim())
			}
		}
		if snap, err := NewSnapshot(table.Schema, samples, ScaleNone); err == nil && snap.Len() != len(samples) {
			t.Fatalf("snapshot of %d samples has %d", len(samples), snap.Len())
		}
	})
}
