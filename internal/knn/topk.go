package knn

// topK keeps the k nearest candidates seen so far, ordered by (distance,
// id). For small k (every prediction the API serves by default) it is a
// sorted array: a new candidate is inserted by shifting at most k entries,
// and the farthest is the last. For large k it is a max-heap with the
// farthest at the root. Either way a candidate that cannot enter is
// rejected with one comparison against last().
type topK struct {
	items  []Neighbor // Distance holds the rank distance while searching
	linear bool       // sorted array (small k) rather than heap
}

// linearMax is the largest k kept in a sorted array.
const linearMax = 32

func newTopK(items []Neighbor, k int) topK {
	return topK{items: items, linear: k <= linearMax}
}

// last returns the farthest kept candidate; the heap must be non-empty.
func (h *topK) last() *Neighbor {
	if h.linear {
		return &h.items[len(h.items)-1]
	}
	return &h.items[0]
}

// push offers a candidate.
func (h *topK) push(d float64, id int64, label int32, k int) {
	if h.linear {
		n := len(h.items)
		if n == k {
			if w := &h.items[n-1]; !less(d, id, w.Distance, w.ID) {
				return
			}
			n--
		}
		// Insertion: shift the farther entries up by one (a loop: k is
		// small, and a memmove call costs more than the moves).
		h.items = h.items[:n+1]
		items := h.items
		i := n
		for ; i > 0 && less(d, id, items[i-1].Distance, items[i-1].ID); i-- {
			items[i] = items[i-1]
		}
		items[i] = Neighbor{ID: id, Label: label, Distance: d}
		return
	}
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
	if h.linear {
		return
	}
	for n := len(h.items); n > 1; n-- {
		h.items[0], h.items[n-1] = h.items[n-1], h.items[0]
		h.down(0, n-1)
	}
}
