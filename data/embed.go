// Package data embeds the Iris dataset shipped with the service: Fisher's
// 150 samples exactly as scikit-learn distributes them (the UCI copy has
// transcription errors in samples 35 and 38).
package data

import _ "embed"

// IrisCSV is iris.csv: a header line, then 150 rows of sepal_length,
// sepal_width, petal_length, petal_width (cm) and species (setosa,
// versicolor, virginica), 50 of each, in the original order.
//
//go:embed iris.csv
var IrisCSV []byte
