"""Generates wine_replace.csv and sklearn_replace_reference.json: the answers
scikit-learn gives after the service's training set is replaced by an import
(POST /dataset/import?mode=replace) with -scale standard or minmax. The
service loads wine.csv (written by gen_sklearn_scaled.py), then imports
wine_replace.csv with mode=replace: the scaler must be fitted again on the
imported rows, so the reference is
Pipeline(StandardScaler() or MinMaxScaler(), KNeighborsClassifier(algorithm="brute"))
fitted on the imported rows alone.

Run with Debian's python3-sklearn:  /usr/bin/python3 gen_sklearn_replace.py

The imported rows are 90 of wine.csv's rows (a seeded choice, all three
classes present), each feature multiplied by 1.5 and moved by 10% of its
range, copied as the text Python's repr gives (so parsing the CSV gives the
very floats scikit-learn fits). A scaler not fitted again (the loaded set's)
gives other parameters and other neighbours. kth_distance_tie marks the
answers decided by a distance tie at the k-th neighbour, as in
gen_sklearn_scaled.py; a test skips exactly those.
"""
import csv
import json
import os

import numpy as np
import sklearn
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
KS = [1, 3, 5, 10]
TIE_RTOL = 1e-9
SEED = 20261203


def exact_distances(Z, zq, metric):
    diff = Z - zq
    if metric == "euclidean":
        return np.sqrt((diff * diff).sum(axis=1))
    return np.abs(diff).sum(axis=1)


def main():
    with open(os.path.join(HERE, "wine.csv"), newline="") as f:
        rows = list(csv.reader(f))
    header, rows = rows[0], rows[1:]
    d = len(header) - 1
    X0 = np.array([[float(v) for v in r[:d]] for r in rows])
    y0 = np.array([r[d] for r in rows])
    rng = np.random.default_rng(SEED)
    pick = np.sort(rng.choice(len(rows), 90, replace=False))
    shift = 0.1 * (X0.max(axis=0) - X0.min(axis=0))
    X = X0[pick] * 1.5 + shift
    y = y0[pick]
    assert len(set(y)) == 3
    with open(os.path.join(HERE, "wine_replace.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for x, label in zip(X, y):
            w.writerow([repr(float(v)) for v in x] + [label])
    # The features exactly as the CSV gives them.
    with open(os.path.join(HERE, "wine_replace.csv"), newline="") as f:
        X = np.array([[float(v) for v in r[:d]] for r in list(csv.reader(f))[1:]])

    qs, kinds = [], []
    for i in range(0, len(X), 9):
        qs.append(X[i].copy())
        kinds.append(f"imported row {i + 1}")
    std = X.std(axis=0)
    for i in rng.choice(len(X), 10, replace=False):
        qs.append(X[i] + rng.normal(0, 0.05 * std))
        kinds.append(f"imported row {i + 1} perturbed")
    for _ in range(10):
        a = rng.choice(np.flatnonzero(y == y[0]))
        b = rng.choice(np.flatnonzero(y != y[0]))
        t = rng.uniform(0.3, 0.7)
        qs.append((1 - t) * X[a] + t * X[b])
        kinds.append(f"between imported rows {a + 1} and {b + 1}")
    Q = np.array(qs)

    out = {"generator": "gen_sklearn_replace.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "loaded": "wine.csv", "label": header[d], "imported": "wine_replace.csv", "rows": len(X),
           "queries": [[float(v) for v in q] for q in Q], "query_kinds": kinds, "scalers": {}, "cases": []}
    for scale, scaler in [("standard", StandardScaler), ("minmax", MinMaxScaler)]:
        s = scaler().fit(X)
        if scale == "standard":
            out["scalers"][scale] = {"mean_": s.mean_.tolist(), "scale_": s.scale_.tolist()}
        else:
            out["scalers"][scale] = {"data_min_": s.data_min_.tolist(), "data_range_": s.data_range_.tolist()}
        Z, Zq = s.transform(X), s.transform(Q)
        for metric in ["euclidean", "manhattan"]:
            for weights in ["uniform", "distance"]:
                for k in KS:
                    pipe = Pipeline([("scale", scaler()),
                                     ("knn", KNeighborsClassifier(n_neighbors=k, metric=metric, weights=weights, algorithm="brute"))])
                    pipe.fit(X, y)
                    out["classes"] = [str(c) for c in pipe.classes_]
                    pred, proba = pipe.predict(Q), pipe.predict_proba(Q)
                    sk_dist, _ = pipe.named_steps["knn"].kneighbors(Zq, n_neighbors=k)
                    for qi in range(len(Q)):
                        ex = np.sort(exact_distances(Z, Zq[qi], metric))
                        dk, dk1 = ex[k - 1], ex[k]
                        top = np.sort(proba[qi])[::-1]
                        out["cases"].append({
                            "query": qi, "scale": scale, "metric": metric, "weights": weights, "k": k,
                            "class": str(pred[qi]),
                            "probabilities": [float(v) for v in proba[qi]],
                            "kth_distance_tie": bool(dk1 - dk <= TIE_RTOL * max(dk, 1e-300)),
                            "sklearn_inexact_zero": bool(weights == "distance" and ex[0] == 0 and sk_dist[qi][0] != 0),
                            "vote_tie": bool(top[0] - top[1] <= 1e-9),
                        })
    with open(os.path.join(HERE, "sklearn_replace_reference.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    c = out["cases"]
    print(f"{len(c)} cases, {sum(x['kth_distance_tie'] for x in c)} decided by a k-th distance tie, "
          f"{sum(x['sklearn_inexact_zero'] for x in c)} with scikit-learn's inexact zero, {sum(x['vote_tie'] for x in c)} vote ties")


if __name__ == "__main__":
    main()
