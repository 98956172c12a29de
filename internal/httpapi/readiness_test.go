package httpapi_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// downJournal refuses every change, as a journal does while its database
// is unreachable.
type downJournal struct{ err error }

func (j downJournal) Record(context.Context, dataset.Change) error {
	return dataset.Unavailable("the shared training set is unreachable", j.err)
}

func TestReadyzStaysReadyAndSaysWhatIsUnavailable(t *testing.T) {
	var pgDown atomic.Pointer[error]
	check := func() error {
		if p := pgDown.Load(); p != nil {
			return *p
		}
		return nil
	}
	cfg := httpapi.Config{Dependencies: []httpapi.Dependency{{Name: "postgres", Affects: []string{"writes", "jobs"}, Check: check}}}
	a := newAPI(t, cfg)

	r := a.Do("GET", "/readyz", "")
	require.Equal(t, 200, r.Status)
	m := r.JSON(t)
	assert.Equal(t, "ready", m["status"])
	assert.Empty(t, m["unavailable"])

	down := errors.New("dial tcp 127.0.0.1:5432: connection refused")
	pgDown.Store(&down)
	r = a.Do("GET", "/readyz", "")
	require.Equal(t, 200, r.Status, "predictions are still served")
	m = r.JSON(t)
	assert.Equal(t, "degraded", m["status"])
	assert.Equal(t, []any{"writes", "jobs"}, m["unavailable"])
	assert.Contains(t, string(r.Body), "connection refused", "the body says why")

	r = a.Do("GET", "/metrics", "")
	assert.Contains(t, string(r.Body), `irisknn_dependency_up{dependency="postgres"} 0`)
	assert.Contains(t, string(r.Body), `irisknn_available{feature="writes"} 0`)

	r = a.Do("POST", "/predict", `{"features":[5.1,3.5,1.4,0.2]}`)
	assert.Equal(t, 200, r.Status)

	pgDown.Store(nil)
	r = a.Do("GET", "/metrics", "")
	assert.Contains(t, string(r.Body), `irisknn_available{feature="writes"} 1`)
}

func TestAWriteRefusedByItsJournalIs503WithRetryAfter(t *testing.T) {
	// The API over a store that records through a journal that is down.
	a := apitest.Start(t, httpapi.Config{}, dataset.NewMemory(apitest.Iris(t).Snapshot(), downJournal{errors.New("i/o timeout")}))
	r := a.Do("POST", "/samples", `{"features":[5.1,3.5,1.4,0.2],"species":"setosa"}`)
	assert.Equal(t, 503, r.Status)
	assert.Equal(t, "1", r.Header.Get("Retry-After"))
	assert.Contains(t, r.JSON(t)["detail"], "unreachable")
}
