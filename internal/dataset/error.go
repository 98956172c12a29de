package dataset

import (
	"errors"
	"fmt"
)

// Kind classifies an Error. The HTTP layer maps each kind to one status in
// one table.
type Kind uint8

// The kinds of error.
const (
	KindInternal     Kind = iota // a bug or an unexpected failure
	KindInvalid                  // well-formed input with invalid values
	KindNotFound                 // no such sample (or other entity)
	KindPrecondition             // a conditional write whose condition failed
	KindUnavailable              // a dependency (disk, Redis) failed; retry later
	KindConflict                 // the request conflicts with the current state
	KindGone                     // asked for history no longer kept (an old change)
	KindTooLarge                 // input over a size limit
)

// FieldError says what is wrong with one field of the input.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is the error type of the domain. Message is for the client and must
// be actionable; Err is the cause, for the log only.
type Error struct {
	Kind    Kind
	Message string
	Fields  []FieldError
	// OldestVersion and NewestVersion, when not 0, are versions the
	// error is about, for a client to act on without reading Message:
	// the oldest version kept (history that is gone), the newest version
	// there is (a version asked for that is after it).
	OldestVersion uint64
	NewestVersion uint64
	Err           error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Message + ": " + e.Err.Error()
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Invalidf returns a KindInvalid error about one field.
func Invalidf(field, format string, args ...any) *Error {
	msg := fmt.Sprintf(format, args...)
	return &Error{Kind: KindInvalid, Message: msg, Fields: []FieldError{{Field: field, Message: msg}}}
}

// NotFoundf returns a KindNotFound error.
func NotFoundf(format string, args ...any) *Error {
	return &Error{Kind: KindNotFound, Message: fmt.Sprintf(format, args...)}
}

// Unavailable wraps the failure of a dependency.
func Unavailable(msg string, err error) *Error {
	return &Error{Kind: KindUnavailable, Message: msg, Err: err}
}

// ErrorKind returns the kind of err: that of the first *Error in its chain,
// or KindInternal.
func ErrorKind(err error) Kind {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Kind
	}
	return KindInternal
}
