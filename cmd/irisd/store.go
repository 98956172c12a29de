package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"log/slog"

	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
	"github.com/irisknn/irisknn/internal/pgstore"
)

// sharedSet is the training set a process serves, with what the rest of
// the backend needs to know about it.
type sharedSet struct {
	store dataset.Store
	// identity qualifies the set's versions (cache keys): the database's
	// dataset identity, or one of this process's own when nothing is
	// shared, so that no other process's cache entry can ever match.
	identity string
	// pg is the PostgreSQL store with -postgres (its pool serves the job
	// queue too); nil otherwise.
	pg   *pgstore.Store
	deps []httpapi.Dependency
}

// openSet returns the training set: with -postgres the journal in the
// shared database (seeded with snap when the database is empty), else snap
// in memory, recorded in journal (the WAL of -data-dir) when not nil, its
// change feed starting with history (what the journal recovered). The
// store is the same dataset.Memory in every case; only the journal differs.
// `irisd worker` calls it as a replica does, to follow the shared set.
func openSet(ctx context.Context, cfg *config, snap *dataset.Snapshot, journal dataset.Journal, history []dataset.Change, log *slog.Logger) (*sharedSet, func() error, error) {
	if cfg.Postgres == "" {
		id, err := processIdentity()
		if err != nil {
			return nil, nil, err
		}
		return &sharedSet{store: dataset.NewMemoryWith(snap, journal, dataset.MemoryOptions{Keep: cfg.KeepVersions, ChangeWindow: cfg.ChangeWindow, Recovered: history}), identity: id}, func() error { return nil }, nil
	}
	st, err := pgstore.Open(ctx, cfg.Postgres, snap, pgstore.Options{WriteTimeout: cfg.PostgresTimeout, KeepVersions: cfg.KeepVersions, ChangeWindow: cfg.ChangeWindow, Logger: log})
	if err != nil {
		return nil, nil, fmt.Errorf("-postgres: %w", err)
	}
	log.Info("shared training set in postgres", "dataset", st.Identity(), "dataset_version", st.Snapshot().Version(), "samples", st.Snapshot().Len())
	set := &sharedSet{store: st, identity: st.Identity(), pg: st,
		deps: []httpapi.Dependency{{Name: "postgres", Affects: []string{"writes", "jobs"}, Check: st.Health}}}
	return set, st.Close, nil
}

// processIdentity returns a random identity for a set this process alone
// holds.
func processIdentity() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return "process-" + hex.EncodeToString(b[:]), nil
}
