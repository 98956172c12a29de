"""Generates sklearn_reference.json: scikit-learn's KNeighborsClassifier
answers on the Iris data, the reference for TestAgreesWithScikitLearn.

Run with Debian's python3-sklearn:  /usr/bin/python3 gen_sklearn.py
"""
import json

import numpy as np
from sklearn.datasets import load_iris
from sklearn.neighbors import KNeighborsClassifier

X, y = load_iris(return_X_y=True)
names = ["setosa", "versicolor", "virginica"]
rng = np.random.default_rng(20261125)
lo, hi = X.min(axis=0), X.max(axis=0)
# Every training point (exact matches: distance weighting's special case),
# and random points in the data's bounding box at two resolutions.
queries = np.vstack([X, np.round(rng.uniform(lo, hi, (40, 4)), 1), np.round(rng.uniform(lo, hi, (40, 4)), 3)])

cases = []
for metric in ["euclidean", "manhattan"]:
    for weights in ["uniform", "distance"]:
        for k in [1, 3, 5, 15]:
            clf = KNeighborsClassifier(n_neighbors=k, metric=metric, weights=weights, algorithm="brute").fit(X, y)
            pred = clf.predict(queries)
            proba = clf.predict_proba(queries)
            # k+1 distances tell whether the k-th neighbour is tied with the next.
            dist, _ = clf.kneighbors(queries, n_neighbors=k + 1)
            for q, p, pr, d in zip(queries, pred, proba, dist):
                ambiguous_set = bool(np.isclose(d[k - 1], d[k], rtol=1e-12, atol=1e-12))
                top = np.sort(pr)[::-1]
                vote_tie = bool(len(top) > 1 and np.isclose(top[0], top[1], rtol=1e-12, atol=1e-12))
                cases.append({
                    "features": [float(v) for v in q],
                    "k": k, "metric": metric, "weights": weights,
                    "species": names[p],
                    "probabilities": [float(v) for v in pr],
                    "distances": [float(v) for v in d[:k]],
                    "decided_by_tie": ambiguous_set or vote_tie,
                })

with open("sklearn_reference.json", "w") as f:
    json.dump({"generator": "gen_sklearn.py", "sklearn": __import__("sklearn").__version__, "cases": cases}, f, separators=(",", ":"))
print(len(cases), "cases,", sum(c["decided_by_tie"] for c in cases), "decided by a tie")
