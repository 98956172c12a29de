package httpapi_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/httpapi"
)

// TestCursorPagingWalksTheSetLikeOffset: following next_after_id from
// after_id=0 visits every sample once, in id order, exactly as offset
// paging does, with and without a species filter; the last page has no
// cursor.
func TestCursorPagingWalksTheSetLikeOffset(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	// Holes in the ids: a cursor need not be an existing id.
	for _, id := range []int{3, 50, 51, 99} {
		require.Equal(t, http.StatusNoContent, a.Do("DELETE", fmt.Sprintf("/samples/%d", id), "").Status)
	}
	ids := func(m map[string]any) []float64 {
		var out []float64
		for _, s := range m["samples"].([]any) {
			out = append(out, s.(map[string]any)["id"].(float64))
		}
		return out
	}
	for _, filter := range []string{"", "&species=versicolor"} {
		var byOffset, byCursor []float64
		for off := 0; ; off += 7 {
			m := a.Do("GET", fmt.Sprintf("/samples?limit=7&offset=%d%s", off, filter), "").JSON(t)
			byOffset = append(byOffset, ids(m)...)
			if len(ids(m)) < 7 {
				break
			}
		}
		after := "0"
		for pages := 0; ; pages++ {
			require.Less(t, pages, 100)
			r := a.Do("GET", "/samples?limit=7&after_id="+after+filter, "")
			require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
			m := r.JSON(t)
			byCursor = append(byCursor, ids(m)...)
			next, ok := m["next_after_id"]
			if len(ids(m)) < 7 {
				assert.False(t, ok, "a page that is not full has no cursor")
				break
			}
			after = fmt.Sprint(int64(next.(float64)))
		}
		assert.Equal(t, byOffset, byCursor, "filter %q", filter)
		assert.NotEmpty(t, byCursor)
	}
	m := a.Do("GET", "/samples?limit=3&after_id=49", "").JSON(t)
	assert.Equal(t, []float64{52, 53, 54}, ids(m), "after a deleted id")
	assert.EqualValues(t, 146, m["total"])
}

func TestCursorPagingErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	for _, tc := range []struct {
		query  string
		status int
	}{
		{"after_id=x", http.StatusBadRequest},
		{"after_id=1.5", http.StatusBadRequest},
		{"after_id=99999999999999999999", http.StatusBadRequest},
		{"after_id=-1", http.StatusUnprocessableEntity},
		{"after_id=10&offset=5", http.StatusUnprocessableEntity},
		{"after_id=9223372036854775807", http.StatusOK},
	} {
		r := a.Do("GET", "/samples?"+tc.query, "")
		assert.Equal(t, tc.status, r.Status, "%s: %s", tc.query, r.Body)
	}
}
