package knn

// topK keeps the k nearest candidates seen so far in a max-heap ordered by
// (distance, id), so the farthest kept candidate is at the root and a
// candidate that cannot enter is rejected with one comparison.
type topK struct {
	items []Neighbor // heap; Distance holds the rank distance while searching
}

// push offers a candidate.
func (h *topK) push(d float64, id int64, label int32, k int) {
	if len(h.items) < k {
		h.items = append(h.items, Neighbor{ID: id, Label: label, Distance: d})
		h.up(len(h.items) - 1)
		return
	}
	r := &h.items[0]
	if !less(d, id, r.Distance, r.ID) {
		return
	}
	*r = Neighbor{ID: id, Label: label, Distance: d}
	h.down(0, len(h.items))
}

func (h *topK) farther(i, j int) bool {
	a, b := &h.items[i], &h.items[j]
	return less(b.Distance, b.ID, a.Distance, a.ID)
}

func (h *topK) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if !h.farther(i, p) {
			return
		}
		h.items[i], h.items[p] = h.items[p], h.items[i]
		i = p
	}
}

func (h *topK) down(i, n int) {
	for {
		l := 2*i + 1
		if l >= n {
			return
		}
		c := l
		if r := l + 1; r < n && h.farther(r, l) {
			c = r
		}
		if !h.farther(c, i) {
			return
		}
		h.items[i], h.items[c] = h.items[c], h.items[i]
		i = c
	}
}

// sort orders the kept items nearest first (heapsort, in place).
func (h *topK) sort() {
	for n := len(h.items); n > 1; n-- {
		h.items[0], h.items[n-1] = h.items[n-1], h.items[0]
		h.down(0, n-1)
	}
}
