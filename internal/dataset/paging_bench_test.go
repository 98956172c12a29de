package dataset

import (
	"fmt"
	"testing"
)

// BenchmarkListPage measures one page of 1000 samples of a 1M-sample set
// at the start, in the middle and at the end, by offset (which walks the
// skipped samples) and by cursor (AfterID, which seeks): a cursor page
// costs the same at any depth. Each checks the page's first id.
func BenchmarkListPage(b *testing.B) {
	n := 1_000_000
	if testing.Short() {
		n = 10_000
	}
	s := benchSnapshot(b, n)
	var ids []int64
	s.All(func(x Sample) bool { ids = append(ids, x.ID); return true })
	const limit = 1000
	for _, depth := range []int{0, n / 2, n - limit} {
		for _, by := range []string{"offset", "after_id"} {
			f := Filter{Limit: limit, Offset: depth}
			if by == "after_id" {
				f = Filter{Limit: limit}
				if depth > 0 {
					f.AfterID = ids[depth-1]
				}
			}
			b.Run(fmt.Sprintf("depth=%d/%s", depth, by), func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					page, _ := s.List(f)
					if len(page) != limit || page[0].ID != ids[depth] {
						b.Fatalf("page starts at %d, want %d", page[0].ID, ids[depth])
					}
				}
			})
		}
	}
}
