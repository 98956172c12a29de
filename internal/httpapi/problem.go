package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/irisknn/irisknn/internal/dataset"
)

// kindStatus maps each domain error kind to its HTTP status: the one place
// where domain errors become HTTP.
var kindStatus = map[dataset.Kind]int{
	dataset.KindInvalid:      http.StatusUnprocessableEntity,
	dataset.KindNotFound:     http.StatusNotFound,
	dataset.KindPrecondition: http.StatusPreconditionFailed,
	dataset.KindConflict:     http.StatusConflict,
	dataset.KindUnavailable:  http.StatusServiceUnavailable,
	dataset.KindGone:         http.StatusGone,
	dataset.KindTooLarge:     http.StatusRequestEntityTooLarge,
	dataset.KindInternal:     http.StatusInternalServerError,
}

// httpError is an error that arises in the HTTP layer itself (a body that
// does not decode, a wrong content type, a bad path id) with its status.
type httpError struct {
	status int
	msg    string // for the client
	fields []dataset.FieldError
	err    error // the cause, for the log
}

func (e *httpError) Error() string {
	if e.err != nil {
		return e.msg + ": " + e.err.Error()
	}
	return e.msg
}

func (e *httpError) Unwrap() error { return e.err }

func badRequest(field, msg string, cause error) *httpError {
	e := &httpError{status: http.StatusBadRequest, msg: msg, err: cause}
	if field != "" {
		e.fields = []dataset.FieldError{{Field: field, Message: msg}}
	}
	return e
}

// problem is an RFC 9457 problem details object.
type problem struct {
	Type      string               `json:"type"`
	Title     string               `json:"title"`
	Status    int                  `json:"status"`
	Detail    string               `json:"detail,omitempty"`
	Instance  string               `json:"instance,omitempty"`
	RequestID string               `json:"request_id,omitempty"`
	Errors    []dataset.FieldError `json:"errors,omitempty"`
	// Extension members: the versions a dataset error is about.
	OldestVersion uint64 `json:"oldest_version,omitempty"`
	NewestVersion uint64 `json:"newest_version,omitempty"`
}

// newProblem returns the problem of a request with the given status.
func newProblem(r *http.Request, status int, detail string, fields []dataset.FieldError) problem {
	return problem{
		Type:      "about:blank",
		Title:     http.StatusText(status),
		Status:    status,
		Detail:    detail,
		Instance:  r.URL.Path,
		RequestID: requestIDFrom(r),
		Errors:    fields,
	}
}

// problemOf returns the problem that tells the client about err: the one
// way an error becomes a problem, whether it is the answer (writeError) or
// an event of a stream already answered.
func problemOf(r *http.Request, err error) problem {
	status, msg, fields := errorStatus(err)
	p := newProblem(r, status, msg, fields)
	if de, ok := errors.AsType[*dataset.Error](err); ok && status < 500 {
		p.OldestVersion, p.NewestVersion = de.OldestVersion, de.NewestVersion
	}
	return p
}

// errorStatus returns the status, client message and field errors for err.
func errorStatus(err error) (int, string, []dataset.FieldError) {
	if he, ok := errors.AsType[*httpError](err); ok {
		return he.status, he.msg, he.fields
	}
	if de, ok := errors.AsType[*dataset.Error](err); ok {
		status, ok := kindStatus[de.Kind]
		if !ok {
			status = http.StatusInternalServerError
		}
		if status == http.StatusInternalServerError {
			return status, "internal error", nil
		}
		return status, de.Message, de.Fields
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusServiceUnavailable, "the request took too long; try a smaller batch or retry later", nil
	case errors.Is(err, context.Canceled):
		return http.StatusServiceUnavailable, "the request was cancelled", nil
	}
	return http.StatusInternalServerError, "internal error", nil
}

// writeError writes err as a problem response and logs it: a server error
// with its cause at error level, a client error at debug level.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	p := problemOf(r, err)
	status := p.Status
	level := slog.LevelDebug
	if status >= 500 {
		level = slog.LevelError
	}
	s.log.LogAttrs(r.Context(), level, "request failed",
		slog.String("request_id", requestIDFrom(r)),
		slog.Int("status", status),
		slog.String("error", err.Error()))
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1") // overloaded or a dependency down: both pass
	}
	sendProblem(w, p)
}

// writeProblem writes a problem response with the given status.
func writeProblem(w http.ResponseWriter, r *http.Request, status int, detail string, fields []dataset.FieldError) {
	sendProblem(w, newProblem(r, status, detail, fields))
}

// sendProblem writes p as the response.
func sendProblem(w http.ResponseWriter, p problem) {
	b, _ := json.Marshal(p)
	h := w.Header()
	h.Set("Content-Type", "application/problem+json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	w.Write(append(b, '\n'))
}
