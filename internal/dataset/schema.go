package dataset

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of a schema and of its labels. They keep every answer, record and
// log line small and bounded whatever CSV is loaded.
const (
	// MaxFeatures is the most feature columns a dataset may have.
	MaxFeatures = 1024
	// MaxNameLen bounds the length of a column name in bytes.
	MaxNameLen = 128
	// MaxLabelLen bounds the length of a label (a class name) in bytes.
	MaxLabelLen = 64
	// MaxClasses bounds the number of distinct labels in a dataset, so that
	// a prediction's probabilities stay small (and a label fits a byte in
	// the index).
	MaxClasses = 256
)

// reservedLabels are names the API gives fields of its own next to the
// label's (in a sample, a prediction, a neighbour): a label column cannot
// have one of them.
var reservedLabels = []string{"id", "features", "instances", "probabilities", "neighbors", "distance", "tie", "k", "metric", "weights", "dataset_version"}

// DefaultLabel is the label column chosen when none is named and the header
// has one of this name; otherwise the last column is the label.
const DefaultLabel = "species"

// Schema is the shape of a dataset: the names of its feature columns, in the
// order every feature array uses (CSV, JSON, the index), and the name of its
// label column, which is also the label's key on the wire. A Schema is
// immutable.
type Schema struct {
	features []string
	label    string
	index    map[string]int // feature name -> position
}

// NewSchema returns the schema of the named features (1 to MaxFeatures
// distinct names) and label column (a name of its own).
func NewSchema(features []string, label string) (*Schema, error) {
	if len(features) == 0 || len(features) > MaxFeatures {
		return nil, fmt.Errorf("%d feature columns: want 1 to %d", len(features), MaxFeatures)
	}
	if err := checkName(label); err != nil {
		return nil, fmt.Errorf("label column %q: %w", label, err)
	}
	if slices.Contains(reservedLabels, label) {
		return nil, fmt.Errorf("label column %q: the API uses it for a field of its own (want another name than %s)", label, strings.Join(reservedLabels, ", "))
	}
	s := &Schema{features: slices.Clone(features), label: label, index: make(map[string]int, len(features))}
	for i, f := range features {
		if err := checkName(f); err != nil {
			return nil, fmt.Errorf("feature column %d %q: %w", i+1, f, err)
		}
		if _, dup := s.index[f]; dup || f == label {
			return nil, fmt.Errorf("column %q appears twice: column names must be distinct", f)
		}
		s.index[f] = i
	}
	return s, nil
}

// irisSchema is the schema of the shipped Iris set.
var irisSchema = func() *Schema {
	s, err := NewSchema([]string{"sepal_length", "sepal_width", "petal_length", "petal_width"}, DefaultLabel)
	if err != nil {
		panic(err)
	}
	return s
}()

// IrisSchema returns the schema of the shipped Iris set: four measurements
// in cm and the species. A data directory written before schemas were
// recorded holds Iris.
func IrisSchema() *Schema { return irisSchema }

// checkName reports whether name can name a column: non-empty, at most
// MaxNameLen bytes of printable UTF-8 (spaces and punctuation are fine).
func checkName(name string) error { return checkText("name", name, MaxNameLen) }

// CheckLabel reports whether name can be a label: non-empty, at most
// MaxLabelLen bytes of printable UTF-8.
func CheckLabel(name string) error { return checkText("label", name, MaxLabelLen) }

// checkText is the rule for names and labels: non-empty, at most maxLen
// bytes of printable UTF-8.
func checkText(what, s string, maxLen int) error {
	switch {
	case s == "":
		return fmt.Errorf("empty %s", what)
	case len(s) > maxLen:
		return fmt.Errorf("%s longer than %d bytes", what, maxLen)
	case !utf8.ValidString(s):
		return fmt.Errorf("%s is not valid UTF-8", what)
	case strings.IndexFunc(s, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return fmt.Errorf("%s has unprintable characters", what)
	}
	return nil
}

// Features returns the feature names in order; do not modify the result.
func (s *Schema) Features() []string { return s.features }

// Dim returns the number of features.
func (s *Schema) Dim() int { return len(s.features) }

// Label returns the name of the label column.
func (s *Schema) Label() string { return s.label }

// FeatureIndex returns the position of the feature called name.
func (s *Schema) FeatureIndex(name string) (int, bool) {
	i, ok := s.index[name]
	return i, ok
}

// Equal reports whether s and o describe the same columns.
func (s *Schema) Equal(o *Schema) bool {
	return s == o || s.label == o.label && slices.Equal(s.features, o.features)
}

// FeatureList returns the feature names joined for a message.
func (s *Schema) FeatureList() string { return strings.Join(s.features, ", ") }
