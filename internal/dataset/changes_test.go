package dataset_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/dataset"
)

func put(v uint64) dataset.Change {
	return dataset.Change{Version: v, Op: dataset.OpDelete, ID: int64(v)}
}

func versions(cs []dataset.Change) []uint64 {
	out := []uint64{}
	for _, c := range cs {
		out = append(out, c.Version)
	}
	return out
}

// TestFeedKeepsAWindowAndGoneBeforeIt: the feed lists published changes
// after since, keeps only the last window, and a since before the window
// is KindGone naming the oldest kept version.
func TestFeedKeepsAWindowAndGoneBeforeIt(t *testing.T) {
	f := dataset.NewFeed(3, 1, nil)
	for v := uint64(2); v <= 6; v++ {
		f.Add(put(v))
	}
	got, err := f.Changes(3, 10)
	require.NoError(t, err)
	assert.Empty(t, got, "nothing is published yet")
	f.Publish(5)
	got, err = f.Changes(3, 10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{4, 5}, versions(got), "only published changes")
	got, err = f.Changes(3, 1)
	require.NoError(t, err)
	assert.Equal(t, []uint64{4}, versions(got), "limit")
	assert.Equal(t, uint64(4), f.Oldest())
	_, err = f.Changes(2, 10)
	assert.Equal(t, dataset.KindGone, dataset.ErrorKind(err))
	assert.ErrorContains(t, err, "oldest kept change is version 4")
	f.Publish(6)
	got, err = f.Changes(5, 10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{6}, versions(got))
	got, err = f.Changes(6, 10)
	require.NoError(t, err)
	assert.Empty(t, got)
}

// TestFeedFromTheLoadedSetAnswersAnySince: a feed that holds every change
// since version 1 (the loaded set, made by no change) answers since=0.
func TestFeedFromTheLoadedSetAnswersAnySince(t *testing.T) {
	f := dataset.NewFeed(10, 1, nil)
	f.Add(put(2))
	f.Publish(2)
	got, err := f.Changes(0, 10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{2}, versions(got))
}

// TestFeedStartsFromHistoryAndDropsFailedWrites: history recovered by a
// journal is listed; changes whose writes failed are forgotten.
func TestFeedStartsFromHistoryAndDropsFailedWrites(t *testing.T) {
	f := dataset.NewFeed(10, 12, []dataset.Change{put(10), put(11), put(12)})
	assert.Equal(t, uint64(10), f.Oldest())
	got, err := f.Changes(9, 10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{10, 11, 12}, versions(got))
	_, err = f.Changes(8, 10)
	assert.Equal(t, dataset.KindGone, dataset.ErrorKind(err))
	f.Add(put(13))
	f.Drop(12)
	f.Add(put(13))
	f.Publish(13)
	got, err = f.Changes(12, 10)
	require.NoError(t, err)
	assert.Equal(t, []uint64{13}, versions(got))
}

// TestFeedWaitWakesOnPublish: Wait's channel closes once a later version
// is published.
func TestFeedWaitWakesOnPublish(t *testing.T) {
	f := dataset.NewFeed(10, 1, nil)
	ch := f.Wait(1)
	select {
	case <-ch:
		t.Fatal("woke before a change")
	default:
	}
	f.Add(put(2))
	f.Publish(2)
	select {
	case <-ch:
	case <-time.After(5 * time.Second):
		t.Fatal("not woken by the publish")
	}
	select {
	case <-f.Wait(1):
	default:
		t.Fatal("a version after 1 is published: Wait returns a closed channel")
	}
}

// TestMemoryStampsChangesWithTimeAndActor: every write of a Memory store is
// in its feed with the time it was made and the actor from the context.
func TestMemoryStampsChangesWithTimeAndActor(t *testing.T) {
	m := dataset.NewMemory(irisSnapshot(t), nil)
	ctx := dataset.WithActor(context.Background(), "alice")
	before := time.Now().Add(-time.Second)
	_, err := m.Delete(ctx, 7, dataset.Precondition{})
	require.NoError(t, err)
	_, _, err = m.Put(context.Background(), validOf(t, m, dataset.Sample{ID: 500, Features: []float64{1, 2, 3, 4}, Label: "setosa"}), dataset.Precondition{})
	require.NoError(t, err)
	got, err := m.Changes(1, 10)
	require.NoError(t, err)
	require.Len(t, got, 2)
	assert.Equal(t, dataset.OpDelete, got[0].Op)
	assert.Equal(t, int64(7), got[0].ID)
	assert.Equal(t, "alice", got[0].Actor)
	assert.Equal(t, "", got[1].Actor, "no actor in the context")
	assert.Equal(t, int64(500), got[1].Sample.ID)
	for _, c := range got {
		assert.True(t, c.Time.After(before) && c.Time.Before(time.Now().Add(time.Second)), "time %v", c.Time)
		assert.Equal(t, time.UTC, c.Time.Location())
	}
}

// sharedJournal is a SharedJournal that no one else writes to: enough for
// a store to know that other replicas may be ahead of it.
type sharedJournal struct{}

func (sharedJournal) Record(context.Context, dataset.Change) error { return nil }
func (sharedJournal) CatchUp(_ context.Context, cur *dataset.Snapshot) (*dataset.Snapshot, []dataset.Change, error) {
	return cur, nil, nil
}

var _ dataset.SharedJournal = sharedJournal{}

// TestMemoryFeedAheadOfTheNewestVersion: a since after the newest version
// is ErrAhead (a 409 naming the newest version) for a store that no one
// else writes to, whose history can never get there; a store over a shared
// journal answers an empty list, since another replica may be ahead. A
// since at the newest version is an empty list for both.
func TestMemoryFeedAheadOfTheNewestVersion(t *testing.T) {
	for _, tc := range []struct {
		name    string
		journal dataset.Journal
		since   uint64
		ahead   bool
	}{
		{"alone, after the newest", nil, 3, true},
		{"alone, far after the newest", nil, 500, true},
		{"alone, at the newest", nil, 2, false},
		{"shared, after the newest", sharedJournal{}, 3, false},
		{"shared, far after the newest", sharedJournal{}, 500, false},
		{"shared, at the newest", sharedJournal{}, 2, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := dataset.NewMemory(irisSnapshot(t), tc.journal)
			_, err := m.Delete(context.Background(), 7, dataset.Precondition{})
			require.NoError(t, err)
			require.Equal(t, uint64(2), m.Snapshot().Version())

			got, err := m.Changes(tc.since, 10)
			if !tc.ahead {
				require.NoError(t, err)
				assert.Empty(t, got)
				return
			}
			require.ErrorIs(t, err, dataset.ErrAhead)
			assert.Equal(t, dataset.KindConflict, dataset.ErrorKind(err))
			de, ok := errors.AsType[*dataset.Error](err)
			require.True(t, ok)
			assert.Equal(t, uint64(2), de.NewestVersion)
			assert.Contains(t, de.Message, fmt.Sprintf("version %d is after this server's newest version 2", tc.since))
			assert.Contains(t, de.Message, "follow from since=2")
		})
	}
}

// TestFeedGoneNamesTheOldestVersion: the KindGone error of a since before
// the window carries the oldest kept version for the client.
func TestFeedGoneNamesTheOldestVersion(t *testing.T) {
	f := dataset.NewFeed(2, 1, nil)
	for v := uint64(2); v <= 5; v++ {
		f.Add(put(v))
	}
	f.Publish(5)
	_, err := f.Changes(1, 10)
	de, ok := errors.AsType[*dataset.Error](err)
	require.True(t, ok, "%v", err)
	assert.Equal(t, dataset.KindGone, de.Kind)
	assert.Equal(t, f.Oldest(), de.OldestVersion)
	assert.Equal(t, uint64(4), de.OldestVersion)
}
