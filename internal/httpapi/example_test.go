package httpapi_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"github.com/irisknn/irisknn/data"
	"github.com/irisknn/irisknn/internal/dataset"
	"github.com/irisknn/irisknn/internal/httpapi"
)

// The API over an in-memory store of the embedded Iris data, on a test
// server: one prediction.
func ExampleNewServer() {
	samples, _ := dataset.ParseCSV(bytes.NewReader(data.IrisCSV), "")
	snap, _ := dataset.NewSnapshot(samples.Schema, samples.Samples, dataset.ScaleNone)
	srv := httptest.NewServer(httpapi.NewServer(httpapi.DefaultConfig(), dataset.NewMemory(snap, nil)))
	defer srv.Close()

	resp, err := http.Post(srv.URL+"/predict", "application/json",
		strings.NewReader(`{"features":[6.3,2.5,5.0,1.9],"k":3}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status)
	fmt.Print(string(body))
	// Output:
	// 200 OK
	// {"species":"virginica","probabilities":{"setosa":0,"versicolor":0,"virginica":1},"neighbors":[{"id":147,"species":"virginica","distance":0},{"id":124,"species":"virginica","distance":0.24494897427831777},{"id":112,"species":"virginica","distance":0.3741657386773942}],"tie":false,"exact_match":false,"novelty":{"percentile":0,"unusual":false},"k":3,"metric":"euclidean","weights":"uniform","dataset_version":1}
}
