package httpapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/irisknn/irisknn/internal/apitest"
	"github.com/irisknn/irisknn/internal/httpapi"
)

func init() {
	// The spec checker reads an NDJSON body as an opaque string.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", openapi3filter.FileBodyDecoder)
}

func version(t *testing.T, a *apitest.Server) float64 {
	t.Helper()
	return a.Do("GET", "/dataset", "").JSON(t)["dataset_version"].(float64)
}

// TestImportModes: append adds rows with new ids, upsert writes rows under
// their ids, replace makes the rows the set; each is one version.
func TestImportModes(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	csvBody := "species,sepal_length,sepal_width,petal_length,petal_width\nsetosa,1,2,3,4\n\"virginica\",5,6,7,8\n"
	r := a.Do("POST", "/dataset/import?mode=append", csvBody, "Content-Type", "text/csv")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	m := r.JSON(t)
	assert.EqualValues(t, 2, m["rows"])
	assert.EqualValues(t, 152, m["dataset"].(map[string]any)["total"])
	assert.EqualValues(t, 2, version(t, a), "one version for the whole import")
	s := a.Do("GET", "/samples/152", "").JSON(t)
	assert.Equal(t, "virginica", s["species"])
	assert.Equal(t, []any{5.0, 6.0, 7.0, 8.0}, s["features"])

	nd := `{"id":3,"features":[9,9,9,9],"species":"setosa"}` + "\n" + `{"id":900,"features":{"sepal_length":1,"sepal_width":1,"petal_length":1,"petal_width":1},"species":"versicolor"}` + "\n"
	r = a.Do("POST", "/dataset/import?mode=upsert", nd, "Content-Type", "application/x-ndjson")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	assert.EqualValues(t, 153, r.JSON(t)["dataset"].(map[string]any)["total"])
	assert.Equal(t, []any{9.0, 9.0, 9.0, 9.0}, a.Do("GET", "/samples/3", "").JSON(t)["features"])
	assert.Equal(t, http.StatusOK, a.Do("GET", "/samples/900", "").Status)

	r = a.Do("POST", "/dataset/import?mode=replace", "id,sepal_length,sepal_width,petal_length,petal_width,species\n7,1,1,1,1,setosa\n8,2,2,2,2,virginica\n", "Content-Type", "text/csv")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	d := a.Do("GET", "/dataset", "").JSON(t)
	assert.EqualValues(t, 2, d["total"])
	assert.EqualValues(t, 4, d["dataset_version"])
	assert.EqualValues(t, 901, d["next_id"], "ids used before are never handed out again")

	// The feed lists each import once, by mode and size.
	l := listChanges(t, a, "since=1")
	require.Len(t, l.Changes, 3)
	assert.Equal(t, "import", l.Changes[0].Op)
}

// TestImportIsAtomic: a bad line halfway through leaves the set and its
// version untouched, and the 422 names the line and the column.
func TestImportIsAtomic(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	var b strings.Builder
	b.WriteString("sepal_length,sepal_width,petal_length,petal_width,species\n")
	for i := range 1000 {
		if i == 500 {
			b.WriteString("1,2,x,4,setosa\n")
			continue
		}
		fmt.Fprintf(&b, "1,2,3,%d,setosa\n", i%10)
	}
	before := a.Do("GET", "/samples?format=csv", "").Body
	for _, tc := range []struct {
		mode, ct, body, want string
	}{
		{"append", "text/csv", b.String(), "line 502: petal_length"},
		{"replace", "text/csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,setosa\n1,2,3,4,daisy\n", "line 3: species"},
		{"upsert", "text/csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,setosa\n", "line 2: id"},
		{"upsert", "text/csv", "id,sepal_length,sepal_width,petal_length,petal_width,species\n5,1,2,3,4,setosa\n5,1,2,3,4,setosa\n", "id 5 was already given on line 2"},
		{"append", "text/csv", "id,sepal_length,sepal_width,petal_length,petal_width,species\n5,1,2,3,4,setosa\n", "mode=append assigns new ids"},
		{"append", "text/csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4\n", "line 2: 4 fields, but the header has 5 columns"},
		{"append", "text/csv", "a,b\n", "line 1: unknown column \"a\""},
		{"append", "application/x-ndjson", `{"features":[1,2,3,4],"species":"setosa"}` + "\n" + `{"features":[1,2,3],"species":"setosa"}` + "\n", "line 2: features"},
		{"append", "application/x-ndjson", `{"features":[1,2,3,4],"species":"setosa"}` + "\n{oops\n", "line 2"},
		{"append", "text/csv", "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,1e300,setosa\n", "line 2"},
	} {
		r := a.Do("POST", "/dataset/import?mode="+tc.mode, tc.body, "Content-Type", tc.ct)
		assert.Equal(t, http.StatusUnprocessableEntity, r.Status, "%s: %s", tc.want, r.Body)
		assert.Contains(t, r.JSON(t)["detail"], tc.want)
	}
	assert.EqualValues(t, 1, version(t, a), "nothing was applied")
	assert.Equal(t, string(before), string(a.Do("GET", "/samples?format=csv", "").Body))
}

func TestImportRequestErrors(t *testing.T) {
	a := newAPI(t, httpapi.Config{APIKey: "k", MaxImportBytes: 2048})
	body := "sepal_length,sepal_width,petal_length,petal_width,species\n1,2,3,4,setosa\n"
	auth := []string{"Authorization", "Bearer k"}
	assert.Equal(t, http.StatusUnauthorized, a.Do("POST", "/dataset/import", body, "Content-Type", "text/csv").Status)
	assert.Equal(t, http.StatusUnsupportedMediaType, a.Do("POST", "/dataset/import", body, append(auth, "Content-Type", "application/json")...).Status)
	assert.Equal(t, http.StatusUnprocessableEntity, a.Do("POST", "/dataset/import?mode=merge", body, append(auth, "Content-Type", "text/csv")...).Status)
	big := body + strings.Repeat("1,2,3,4,setosa\n", 200)
	r := a.Do("POST", "/dataset/import", big, append(auth, "Content-Type", "text/csv")...)
	assert.Equal(t, http.StatusRequestEntityTooLarge, r.Status)
	assert.Contains(t, r.JSON(t)["detail"], "-max-import")
	assert.EqualValues(t, 1, version(t, a))
	assert.Equal(t, http.StatusOK, a.Do("POST", "/dataset/import", body, append(auth, "Content-Type", "text/csv")...).Status)
}

// TestExportRoundTrips: the CSV and NDJSON exports hold every sample in id
// order at the version in X-Dataset-Version, honour a species filter, and
// an export imported with mode=replace gives back the same set.
func TestExportRoundTrips(t *testing.T) {
	a := newAPI(t, httpapi.Config{})
	require.Equal(t, http.StatusCreated, a.Do("PUT", "/samples/400", `{"features":[1e-7,2.5,3,1e22],"species":"setosa"}`).Status)
	csvr := a.Do("GET", "/samples", "", "Accept", "text/csv")
	require.Equal(t, http.StatusOK, csvr.Status)
	assert.Equal(t, "2", csvr.Header.Get("X-Dataset-Version"))
	lines := strings.Split(strings.TrimSpace(string(csvr.Body)), "\n")
	assert.Equal(t, "id,sepal_length,sepal_width,petal_length,petal_width,species", lines[0])
	assert.Equal(t, "1,5.1,3.5,1.4,0.2,setosa", lines[1])
	assert.Len(t, lines, 152)

	nd := a.Do("GET", "/samples?format=ndjson&species=setosa", "")
	require.Equal(t, http.StatusOK, nd.Status)
	ndLines := strings.Split(strings.TrimSpace(string(nd.Body)), "\n")
	assert.Len(t, ndLines, 51)
	var last map[string]any
	require.NoError(t, json.Unmarshal([]byte(ndLines[50]), &last))
	page := a.Do("GET", "/samples/400", "").JSON(t)
	delete(page, "etag")
	assert.Equal(t, page, last, "an NDJSON line is the sample as GET /samples/{id} shows it")

	r := a.Do("POST", "/dataset/import?mode=replace", string(csvr.Body), "Content-Type", "text/csv")
	require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
	again := a.Do("GET", "/samples?format=csv", "")
	assert.Equal(t, string(csvr.Body), string(again.Body), "export, import (replace), export: the same set")
	assert.Equal(t, "3", again.Header.Get("X-Dataset-Version"))

	assert.Equal(t, http.StatusUnprocessableEntity, a.Do("GET", "/samples?format=csv&limit=5", "").Status)
	assert.Equal(t, http.StatusUnprocessableEntity, a.Do("GET", "/samples?format=xml", "").Status)
	assert.Equal(t, http.StatusUnprocessableEntity, a.Do("GET", "/samples?format=csv&species=daisy", "").Status)
}
