package jobs

import "slices"

// LabelScore compares a batch's predictions with the labels its rows
// carried (a CSV batch with a label column): a batch's labels are never
// silently dropped.
type LabelScore struct {
	Label    string  `json:"label"` // the label column's name
	Accuracy float64 `json:"accuracy"`
	Correct  int     `json:"correct"`
	Total    int     `json:"total"`
	// Classes are the rows of Confusion: the training set's classes, then
	// any label that is not one of them (in order of first appearance; such
	// rows are never predicted right).
	Classes []string `json:"classes"`
	// Unknown lists the labels that are not classes of the training set.
	Unknown []string `json:"unknown,omitempty"`
	// Unlabelled counts the rows whose label cell was empty: not scored.
	Unlabelled int `json:"unlabelled"`
	// Confusion[actual][predicted] counts rows; columns are the training
	// set's classes (the first len(classes) of Classes).
	Confusion [][]int `json:"confusion"`
}

// scoreLabels scores predicted (indices into classes) against labels, row
// by row; a row with an empty label is not scored.
func scoreLabels(name string, classes, labels []string, predicted []int) *LabelScore {
	s := &LabelScore{Label: name, Classes: slices.Clone(classes)}
	row := make(map[string]int, len(classes))
	for i, c := range classes {
		row[c] = i
	}
	for _, l := range labels {
		if l == "" {
			s.Unlabelled++
			continue
		}
		s.Total++
		if _, ok := row[l]; !ok {
			row[l] = len(s.Classes)
			s.Classes = append(s.Classes, l)
			s.Unknown = append(s.Unknown, l)
		}
	}
	s.Confusion = make([][]int, len(s.Classes))
	for i := range s.Confusion {
		s.Confusion[i] = make([]int, len(classes))
	}
	for i, l := range labels {
		if l == "" {
			continue
		}
		a, p := row[l], predicted[i]
		s.Confusion[a][p]++
		if a == p {
			s.Correct++
		}
	}
	if s.Total > 0 {
		s.Accuracy = float64(s.Correct) / float64(s.Total)
	}
	return s
}
