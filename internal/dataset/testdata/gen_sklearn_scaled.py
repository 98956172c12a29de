"""Generates wine.csv, breast_cancer.csv and sklearn_scaled_reference.json:
scikit-learn's wine (13 features) and breast-cancer (30 features) sets as
CSV files the service loads, and the answers of
Pipeline(StandardScaler() or MinMaxScaler(), KNeighborsClassifier(algorithm="brute"))
on them: the reference for the scaled-prediction tests.

Run with Debian's python3-sklearn:  /usr/bin/python3 gen_sklearn_scaled.py

The CSVs are converted from the files scikit-learn ships
(sklearn/datasets/data/wine_data.csv, breast_cancer.csv): every number is
copied as the text it has there, so parsing the CSV gives the very floats
scikit-learn loads. Columns: scikit-learn's feature names (breast cancer's
have spaces, e.g. "mean radius"), then the label column, named "class"
(values class_0, class_1, class_2) and "diagnosis" (malignant, benign).

For each query the reference records whether the answer is decided by a
distance tie at the k-th neighbour (kth_distance_tie): the k-th and the
(k+1)-th nearest rows are at distances within 1e-9 (relative) of each other,
in exact arithmetic on scikit-learn's scaled values, so that a last-bit
difference in scaling or in the distance computation may swap which of them
is a neighbour. Those answers are not a property of the data; a test skips
exactly those.

scikit-learn computes Euclidean distances for brute force as
|x|^2 - 2x.y + |y|^2, which can leave a small non-zero distance between a
query and the identical training row (an exact match). With
weights="distance" an exact match then does not get scikit-learn's
exact-match rule (only distance-0 neighbours vote) and its probabilities
differ from the exact answer by up to a few 1e-7 (with k=1, or where the
match outweighs the rest, not at all). Such cases are marked
sklearn_inexact_zero (scikit-learn's rounding, not the data's); the test
checks them to 1e-6 instead of 1e-9 and says how many.
"""
import csv
import json
import os

import numpy as np
import sklearn
from sklearn.datasets import load_breast_cancer, load_wine
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(os.path.dirname(sklearn.__file__), "datasets", "data")
KS = [1, 3, 4, 5, 10]  # even k: ties between classes of equal vote
TIE_RTOL = 1e-9


def convert(src, dst, names, label, label_names):
    """Copies scikit-learn's data file src into a CSV with a header."""
    with open(os.path.join(SOURCE, src), newline="") as f:
        rows = list(csv.reader(f))
    n, d = int(rows[0][0]), int(rows[0][1])
    assert d == len(names) and len(rows) == n + 1, (src, n, d, len(rows))
    with open(os.path.join(HERE, dst), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(list(names) + [label])
        for r in rows[1:]:
            assert len(r) == d + 1
            w.writerow(r[:d] + [label_names[int(r[d])]])
    return n, d


def queries_for(X, y, rng):
    """Training rows, perturbed rows and points between rows of two classes."""
    n = len(X)
    qs, kinds = [], []
    for i in np.linspace(0, n - 1, 15).astype(int):
        qs.append(X[i].copy())
        kinds.append(f"row {i + 1}")
    std = X.std(axis=0)
    for i in rng.choice(n, 15, replace=False):
        qs.append(X[i] + rng.normal(0, 0.05 * std))
        kinds.append(f"row {i + 1} perturbed")
    for _ in range(10):
        a = rng.choice(np.flatnonzero(y == y[0]))
        b = rng.choice(np.flatnonzero(y != y[0]))
        t = rng.uniform(0.3, 0.7)
        qs.append((1 - t) * X[a] + t * X[b])
        kinds.append(f"between rows {a + 1} and {b + 1}")
    return np.array(qs), kinds


def exact_distances(Z, zq, metric):
    diff = Z - zq
    if metric == "euclidean":
        return np.sqrt((diff * diff).sum(axis=1))
    return np.abs(diff).sum(axis=1)


def reference(name, loader, src, csv_name, label, seed):
    bunch = loader()
    names = list(bunch.feature_names)
    label_names = [str(s) for s in bunch.target_names]
    n, d = convert(src, csv_name, names, label, label_names)
    # The features exactly as the CSV gives them, labels as strings (so
    # that classes_ is sorted by name, as the service sorts classes).
    with open(os.path.join(HERE, csv_name), newline="") as f:
        rows = list(csv.reader(f))[1:]
    X = np.array([[float(v) for v in r[:d]] for r in rows])
    y = np.array([r[d] for r in rows])
    assert np.array_equal(X, bunch.data), "the CSV must hold scikit-learn's values"
    rng = np.random.default_rng(seed)
    Q, kinds = queries_for(X, y, rng)

    out = {"name": name, "csv": csv_name, "label": label, "features": names, "rows": n,
           "queries": [[float(v) for v in q] for q in Q], "query_kinds": kinds,
           "scalers": {}, "cases": []}
    for scale, scaler in [("standard", StandardScaler), ("minmax", MinMaxScaler)]:
        s = scaler().fit(X)
        if scale == "standard":
            out["scalers"][scale] = {"mean_": s.mean_.tolist(), "scale_": s.scale_.tolist(), "var_": s.var_.tolist()}
        else:
            out["scalers"][scale] = {"min_": s.min_.tolist(), "scale_": s.scale_.tolist(),
                                     "data_min_": s.data_min_.tolist(), "data_max_": s.data_max_.tolist(),
                                     "data_range_": s.data_range_.tolist()}
        Z, Zq = s.transform(X), s.transform(Q)
        for metric in ["euclidean", "manhattan"]:
            for weights in ["uniform", "distance"]:
                for k in KS:
                    pipe = Pipeline([("scale", scaler()),
                                     ("knn", KNeighborsClassifier(n_neighbors=k, metric=metric, weights=weights, algorithm="brute"))])
                    pipe.fit(X, y)
                    classes = [str(c) for c in pipe.classes_]
                    out["classes"] = classes
                    pred = pipe.predict(Q)
                    proba = pipe.predict_proba(Q)
                    sk_dist, _ = pipe.named_steps["knn"].kneighbors(Zq, n_neighbors=k)
                    for qi in range(len(Q)):
                        ex = np.sort(exact_distances(Z, Zq[qi], metric))
                        dk, dk1 = ex[k - 1], ex[k]
                        kth_tie = bool(dk1 - dk <= TIE_RTOL * max(dk, 1e-300))
                        inexact_zero = bool(weights == "distance" and ex[0] == 0 and sk_dist[qi][0] != 0)
                        top = np.sort(proba[qi])[::-1]
                        out["cases"].append({
                            "query": qi, "scale": scale, "metric": metric, "weights": weights, "k": k,
                            "class": str(pred[qi]),
                            "probabilities": [float(v) for v in proba[qi]],
                            "kth_distance_tie": kth_tie,
                            "sklearn_inexact_zero": inexact_zero,
                            "vote_tie": bool(top[0] - top[1] <= 1e-9),
                        })
    return out


def main():
    sets = [
        reference("wine", load_wine, "wine_data.csv", "wine.csv", "class", 20261202),
        reference("breast_cancer", load_breast_cancer, "breast_cancer.csv", "breast_cancer.csv", "diagnosis", 20261203),
    ]
    doc = {"generator": "gen_sklearn_scaled.py", "sklearn": sklearn.__version__, "numpy": np.__version__,
           "tie_rtol": TIE_RTOL, "datasets": sets}
    with open(os.path.join(HERE, "sklearn_scaled_reference.json"), "w") as f:
        json.dump(doc, f, separators=(",", ":"))
        f.write("\n")
    for s in sets:
        c = s["cases"]
        print(f"{s['name']}: {len(c)} cases, {sum(x['kth_distance_tie'] for x in c)} decided by a k-th distance tie, "
              f"{sum(x['sklearn_inexact_zero'] for x in c)} with scikit-learn's inexact zero, "
              f"{sum(x['vote_tie'] for x in c)} vote ties")


if __name__ == "__main__":
    main()
