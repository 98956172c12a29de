package jobs

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestScoreLabels(t *testing.T) {
	classes := []string{"setosa", "versicolor", "virginica"}
	for _, tc := range []struct {
		name      string
		labels    []string
		predicted []int
		want      LabelScore
	}{
		{"all right", []string{"setosa", "virginica"}, []int{0, 2}, LabelScore{Label: "species", Accuracy: 1, Correct: 2, Total: 2,
			Classes: classes, Confusion: [][]int{{1, 0, 0}, {0, 0, 0}, {0, 0, 1}}}},
		{"one wrong", []string{"versicolor", "versicolor", "virginica", "setosa"}, []int{1, 2, 2, 0}, LabelScore{Label: "species", Accuracy: 0.75, Correct: 3, Total: 4,
			Classes: classes, Confusion: [][]int{{1, 0, 0}, {0, 1, 1}, {0, 0, 1}}}},
		{"a label the training set lacks counts as wrong", []string{"setosa", "hybrid"}, []int{0, 0}, LabelScore{Label: "species", Accuracy: 0.5, Correct: 1, Total: 2,
			Classes: append(append([]string{}, classes...), "hybrid"), Unknown: []string{"hybrid"}, Confusion: [][]int{{1, 0, 0}, {0, 0, 0}, {0, 0, 0}, {1, 0, 0}}}},
		{"an empty label is not scored", []string{"", "virginica"}, []int{0, 1}, LabelScore{Label: "species", Accuracy: 0, Correct: 0, Total: 1, Unlabelled: 1,
			Classes: classes, Confusion: [][]int{{0, 0, 0}, {0, 0, 0}, {0, 1, 0}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, &tc.want, scoreLabels("species", classes, tc.labels, tc.predicted))
		})
	}
}
