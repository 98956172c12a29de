// Package knn implements exact k-nearest-neighbour search and classification
// in pure Go.
//
// It knows nothing of Iris, HTTP or storage: a [Dataset] is a flat,
// row-major array of points, each with an integer id and a class label
// (an index into a sorted list of class names).
//
// # Metrics
//
// [Euclidean], [Manhattan] and [Chebyshev] distances are supported. Internally
// Euclidean search compares squared distances (the same order, one square
// root fewer per point); the distances reported in a [Neighbor] are always
// the true distances.
//
// # Determinism and ties
//
// Results never depend on map iteration, goroutine scheduling or the order
// in which points were stored:
//
//   - Among points at equal distance from the query, the one with the lower
//     id is nearer. The k neighbours are therefore a function of the data
//     and the query alone, and are returned nearest first.
//   - When two or more classes receive the same vote weight, the class that
//     comes first in sorted class order wins (this matches scikit-learn's
//     KNeighborsClassifier.predict, whose classes_ are sorted). [Vote.Tie]
//     reports that the tie rule decided the answer.
//
// # Weights
//
// With [Uniform] weights every neighbour has one vote. With [Distance]
// weights a neighbour's vote is 1/d; when one or more neighbours are at
// distance 0 only those vote, one vote each, as in scikit-learn.
//
// # Allocation
//
// [Dataset.Nearest] appends to a caller-supplied slice and [Classify] writes
// into a caller-supplied probability slice, so a prediction with reused
// buffers allocates nothing.
//
// # Dimensions
//
// Points may have any dimension. 4-d points (Iris) have their own search
// paths and kernels. For other dimensions each k-d tree decides once, from
// probe searches on its own data, whether a search descends the tree or
// scans every row: at high dimension, on data that fills it, bounds prune
// too little to pay for themselves. Either way the result is exactly that
// of brute force (BenchmarkShapes, docs/performance.md).
//
// # Assembly
//
// On amd64 the distance pass over small sets and the scan of k-d tree
// leaves run in SSE2 assembly (collect_amd64.s) that performs the same
// floating-point operations in the same order as the Go loops, so results
// are bit for bit those of the Go code (TestCollectMatchesGo). Build with -tags purego to use
// the Go loops everywhere; other architectures always do.
package knn
