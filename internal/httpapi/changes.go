package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/irisknn/irisknn/internal/dataset"
)

// Limits of GET /dataset/changes.
const (
	defaultChangesLimit = 1000
	maxChangesLimit     = 10000
	// maxChangesWait is the longest long poll (?wait=); it stays under
	// the default -write-timeout.
	maxChangesWait = 30 * time.Second
	// sseHeartbeat is how often an idle event stream gets a comment line,
	// so that proxies and clients see it is alive.
	sseHeartbeat = 15 * time.Second
)

// changeJSON is one change on the wire.
type changeJSON struct {
	Version uint64      `json:"version"`
	Time    *time.Time  `json:"time,omitempty"`
	Op      string      `json:"op"`
	ID      *int64      `json:"id,omitempty"`
	Sample  *sampleJSON `json:"sample,omitempty"`
	Mode    string      `json:"mode,omitempty"`
	Rows    *int        `json:"rows,omitempty"`
	Actor   string      `json:"actor,omitempty"`
}

func toChangeJSON(schema *dataset.Schema, c dataset.Change) changeJSON {
	out := changeJSON{Version: c.Version, Op: c.Op.String(), Actor: c.Actor}
	if !c.Time.IsZero() {
		t := c.Time
		out.Time = &t
	}
	switch c.Op {
	case dataset.OpPut:
		s, id := toSampleJSON(schema, c.Sample), c.Sample.ID
		out.Sample, out.ID = &s, &id
	case dataset.OpDelete:
		id := c.ID
		out.ID = &id
	case dataset.OpImport:
		if c.Import != nil {
			rows := c.Import.Rows
			out.Mode, out.Rows = c.Import.Mode.String(), &rows
		}
	}
	return out
}

// changesQuery is the parsed query of GET /dataset/changes.
type changesQuery struct {
	since uint64
	limit int
	wait  time.Duration
}

func parseChangesQuery(r *http.Request) (changesQuery, error) {
	q, err := queryParams(r, "since", "limit", "wait")
	if err != nil {
		return changesQuery{}, err
	}
	cq := changesQuery{}
	// An event stream that reconnects sends the last id it received as
	// Last-Event-ID, with the URL it started from: it resumes after the
	// later of the two.
	for _, p := range []struct{ name, raw string }{{"since", q.Get("since")}, {"Last-Event-ID", r.Header.Get("Last-Event-ID")}} {
		if p.raw == "" {
			continue
		}
		v, err := strconv.ParseUint(p.raw, 10, 64)
		if err != nil {
			return cq, badRequest(p.name, fmt.Sprintf("%s must be a dataset version (0 or a positive integer), got %q", p.name, p.raw), err)
		}
		cq.since = max(cq.since, v)
	}
	limit, err := queryInt(q, "limit", defaultChangesLimit)
	if err != nil {
		return cq, err
	}
	if limit < 1 || limit > maxChangesLimit {
		return cq, dataset.Invalidf("limit", "limit must be between 1 and %d, got %d", maxChangesLimit, limit)
	}
	cq.limit = limit
	if raw := q.Get("wait"); raw != "" {
		d, err := time.ParseDuration(raw)
		if err != nil {
			secs, aerr := strconv.Atoi(raw)
			if aerr != nil {
				return cq, badRequest("wait", fmt.Sprintf("wait must be a duration (10s, 500ms) or seconds, got %q", raw), err)
			}
			d = time.Duration(secs) * time.Second
		}
		if d < 0 || d > maxChangesWait {
			return cq, dataset.Invalidf("wait", "wait must be between 0s and %v, got %v", maxChangesWait, d)
		}
		cq.wait = d
	}
	return cq, nil
}

// wantsEventStream reports whether the client asked for Server-Sent Events.
func wantsEventStream(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/event-stream")
}

// handleChanges serves GET /dataset/changes?since=V&limit=&wait=: the
// changes after version V, as a JSON page (a long poll with wait), or
// followed live as Server-Sent Events (Accept: text/event-stream). Whether
// a V after the newest version waits or is an error is the feed's to say
// (dataset.ErrAhead): it answers at once, before any wait.
func (s *Server) handleChanges() http.HandlerFunc {
	type response struct {
		Changes        []changeJSON `json:"changes"`
		Since          uint64       `json:"since"`
		NextSince      uint64       `json:"next_since"`
		OldestVersion  uint64       `json:"oldest_version"`
		DatasetVersion uint64       `json:"dataset_version"`
	}
	return func(w http.ResponseWriter, r *http.Request) {
		feed, ok := s.store.(dataset.ChangeFeed)
		if !ok {
			s.writeError(w, r, &httpError{status: http.StatusNotImplemented, msg: "this store keeps no change feed (it is kept by the in-memory and -data-dir stores)"})
			return
		}
		cq, err := parseChangesQuery(r)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if wantsEventStream(r) {
			s.streamChanges(w, r, feed, cq)
			return
		}
		// The version is read before the changes: every change listed
		// is at or before it... or after, never missing one before it.
		version := s.store.Snapshot().Version()
		changes, err := feed.Changes(cq.since, cq.limit)
		if err == nil && len(changes) == 0 && cq.wait > 0 {
			timer := time.NewTimer(cq.wait)
			select {
			case <-feed.Wait(cq.since):
			case <-timer.C:
			case <-r.Context().Done():
			}
			timer.Stop()
			version = s.store.Snapshot().Version()
			changes, err = feed.Changes(cq.since, cq.limit)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		resp := response{Changes: make([]changeJSON, len(changes)), Since: cq.since, NextSince: cq.since, OldestVersion: feed.Oldest(), DatasetVersion: version}
		for i, c := range changes {
			resp.Changes[i] = toChangeJSON(s.store.Snapshot().Schema(), c)
			resp.NextSince = c.Version
		}
		resp.DatasetVersion = max(resp.DatasetVersion, resp.NextSince)
		writeJSON(w, http.StatusOK, resp.DatasetVersion, resp)
	}
}

// streamChanges follows the feed as Server-Sent Events: one "change" event
// per change (its id the version, so that a reconnecting client resumes
// with Last-Event-ID), a comment line every sseHeartbeat when idle, and an
// "error" event (a problem object) if the client falls out of the window.
// It ends when the client goes away or the server shuts down.
func (s *Server) streamChanges(w http.ResponseWriter, r *http.Request, feed dataset.ChangeFeed, cq changesQuery) {
	// The first page is checked before the stream starts, so that a
	// version out of the window is a plain 410, and one after the newest
	// of a set that no one else writes to a plain 409 (an EventSource
	// then stops reconnecting, and its page reloads the set).
	changes, err := feed.Changes(cq.since, cq.limit)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	since := cq.since
	heartbeat := time.NewTicker(sseHeartbeat)
	defer heartbeat.Stop()
	write := func(b []byte) bool {
		// An event stream outlives -write-timeout: extend it per write.
		_ = rc.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := w.Write(b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !write([]byte(": irisknn change feed\nretry: 2000\n\n")) {
		return
	}
	for {
		var buf []byte
		for _, c := range changes {
			b, _ := json.Marshal(toChangeJSON(s.store.Snapshot().Schema(), c))
			buf = fmt.Appendf(buf, "id: %d\nevent: change\ndata: %s\n\n", c.Version, b)
			since = c.Version
		}
		if len(buf) > 0 && !write(buf) {
			return
		}
		if len(changes) == cq.limit {
			changes, err = feed.Changes(since, cq.limit)
		} else {
			select {
			case <-r.Context().Done():
				return
			case <-s.shutdown:
				return
			case <-heartbeat.C:
				if !write([]byte(": keep-alive\n\n")) {
					return
				}
				changes = nil
				continue
			case <-feed.Wait(since):
			}
			changes, err = feed.Changes(since, cq.limit)
		}
		if err != nil {
			b, _ := json.Marshal(problemOf(r, err))
			write(fmt.Appendf(nil, "event: error\ndata: %s\n\n", b))
			return
		}
	}
}
