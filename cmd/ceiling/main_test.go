package main

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCeilingAnswersLikeIrisd(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		rows       int
	}{
		{"single", `{"features":[5.1,3.5,1.4,0.2]}`, 0},
		{"batch", `{"instances":[[5.1,3.5,1.4,0.2],[6,3,5,2]]}`, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			handlePredict(rec, httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(tc.body)))
			require.Equal(t, http.StatusOK, rec.Code)
			var got map[string]any
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &got))
			assert.EqualValues(t, 5, got["k"])
			if tc.rows > 0 {
				assert.Len(t, got["predictions"], tc.rows)
			} else {
				assert.Len(t, got["neighbors"], 5)
				assert.Equal(t, "setosa", got["species"])
			}
		})
	}
	rec := httptest.NewRecorder()
	handlePredict(rec, httptest.NewRequest(http.MethodPost, "/predict", strings.NewReader(`{`)))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}
