package dataset

import (
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"math"
	"slices"
)

// Revision identifies the content of a sample (its id, features and
// label): equal content has equal revisions, and a change of content changes
// it. The HTTP layer shows it as the sample's ETag.
type Revision uint64

// Revision returns the revision of the sample's content.
func (s Sample) Revision() Revision {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(s.ID))
	h.Write(b[:])
	for _, f := range s.Features {
		binary.LittleEndian.PutUint64(b[:], math.Float64bits(f))
		h.Write(b[:])
	}
	h.Write([]byte(s.Label))
	return Revision(h.Sum64())
}

// Precondition is the condition a conditional write must meet; the zero
// value is no condition.
type Precondition struct {
	cond condition
	revs []Revision
}

type condition uint8

const (
	noCondition  condition = iota
	mustExist              // the sample exists
	mustHaveRev            // the sample exists with one of revs
	mustNotExist           // no sample has the id
)

// IfExists is met when the sample exists, whatever its content.
func IfExists() Precondition { return Precondition{cond: mustExist} }

// IfRevision is met when the sample exists and has one of revs; with none,
// it is never met.
func IfRevision(revs ...Revision) Precondition {
	return Precondition{cond: mustHaveRev, revs: revs}
}

// None reports whether p is no condition.
func (p Precondition) None() bool { return p.cond == noCondition }

// Check evaluates p against the sample with id in s.
func (p Precondition) Check(s *Snapshot, id int64) error {
	if p.cond == noCondition {
		return nil
	}
	cur, ok := s.Get(id)
	switch {
	case !ok:
		return &Error{Kind: KindPrecondition, Message: fmt.Sprintf("the write was conditional on sample %d, which does not exist", id)}
	case p.cond == mustHaveRev && !slices.Contains(p.revs, cur.Revision()):
		return &Error{Kind: KindPrecondition, Message: fmt.Sprintf("sample %d has changed since you read it; fetch it again and retry", id)}
	}
	return nil
}
