"""Times scikit-learn's KNeighborsClassifier (kd_tree and brute) on the sets
that BenchmarkShapes wrote, and prints them next to the Go figures.

Usage (scripts/bench.sh does this):
    /usr/bin/python3 scripts/bench_sklearn.py DIR GO_BENCH_OUTPUT [SECONDS]

DIR holds dD_nN.points / .queries (little-endian float64 rows) and .ids (the
Go index's 5 nearest ids of the first 64 queries, int64). scikit-learn must
find the same neighbours, nearest first, or the script fails. Every timing
is one core: BLAS and OpenMP are limited to one thread, as a Go query runs
on one goroutine. scikit-learn answers all its queries in one kneighbors
call (its fastest use: brute force becomes one matrix product, which reads
the points once for the whole batch); the per-query time is that call's CPU
time over the number of queries. The "1/call" column is brute force asked
one query per call, as a Go search is: it includes scikit-learn's
per-call overhead (input validation, about 0.1 ms).
"""
import os

for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[v] = "1"

import re  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import sklearn  # noqa: E402
from sklearn.neighbors import KNeighborsClassifier  # noqa: E402

K = 5


def go_results(path):
    """{(d, n, kind): (ns/op, cpu-ns/op, scanAll)} from go test -bench output."""
    out = {}
    pat = re.compile(r"^BenchmarkShapes/d=(\d+)/n=(\d+)/(index|brute)(?:-\d+)?\s+\d+\s+(.*)$")
    for line in open(path):
        m = pat.match(line.strip())
        if not m:
            continue
        vals = m.group(4).split()
        metrics = {vals[i + 1]: float(vals[i]) for i in range(0, len(vals) - 1, 2)}
        out[(int(m.group(1)), int(m.group(2)), m.group(3))] = (
            metrics["ns/op"], metrics.get("cpu-ns/op", metrics["ns/op"]), metrics.get("scanAll"))
    return out


def time_queries(clf, Q, seconds):
    """CPU and wall seconds per query, on as many queries as fit in seconds."""
    nq = 8
    while True:
        c0, w0 = time.process_time(), time.perf_counter()
        clf.kneighbors(Q[:nq], n_neighbors=K)
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        if wall * 4 >= seconds or nq == len(Q):
            return cpu / nq, wall / nq, nq
        nq = min(len(Q), max(nq * 2, int(nq * seconds / max(wall, 1e-6) / 2)))


def time_single(clf, Q, seconds):
    """CPU seconds per query asking one query per kneighbors call."""
    c0, w0, nq = time.process_time(), time.perf_counter(), 0
    while nq < len(Q) and (nq < 4 or time.perf_counter() - w0 < seconds):
        clf.kneighbors(Q[nq:nq + 1], n_neighbors=K)
        nq += 1
    return (time.process_time() - c0) / nq


def main():
    d_dir, go_out = sys.argv[1], sys.argv[2]
    seconds = float(sys.argv[3]) if len(sys.argv) > 3 else 1.0
    go = go_results(go_out)
    sets = sorted({(d, n) for d, n, _ in go})
    print(f"# scikit-learn {sklearn.__version__}, numpy {np.__version__}, one thread; "
          f"k={K}, Euclidean, uniform random points in [0,1)^d; per query, CPU time (wall in brackets), microseconds")
    hdr = ("d", "N", "go index", "go brute", "sk kd_tree", "sk brute", "sk brute 1/call", "kd/index", "skbrute/index", "1/call/index", "gobrute/index", "go search", "sk queries")
    print("%-3s %8s %18s %18s %18s %18s %15s %9s %13s %12s %13s %9s %10s" % hdr)
    failed = False
    for d, n in sets:
        base = os.path.join(d_dir, f"d{d}_n{n}")
        if not os.path.exists(base + ".points"):
            continue
        X = np.fromfile(base + ".points", dtype="<f8").reshape(n, d)
        Q = np.fromfile(base + ".queries", dtype="<f8").reshape(-1, d)
        want = np.fromfile(base + ".ids", dtype="<i8").reshape(-1, K)
        y = np.arange(n) % 3
        row = {}
        for algo in ("kd_tree", "brute"):
            clf = KNeighborsClassifier(n_neighbors=K, algorithm=algo).fit(X, y)
            _, ind = clf.kneighbors(Q[: len(want)], n_neighbors=K)
            if not np.array_equal(ind + 1, want):
                bad = int(np.argmax(np.any(ind + 1 != want, axis=1)))
                print(f"d={d} n={n} {algo}: scikit-learn's neighbours of query {bad} are {ind[bad] + 1}, Go's {want[bad]}")
                failed = True
            row[algo] = time_queries(clf, Q, seconds)
            if algo == "brute":
                row["single"] = time_single(clf, Q, seconds / 2)
            del clf
        gi, gb = go[(d, n, "index")], go[(d, n, "brute")]
        us = lambda cpu, wall: "%8.2f [%7.2f]" % (cpu * 1e6, wall * 1e6)  # noqa: E731
        kd, br = row["kd_tree"], row["brute"]
        print("%-3d %8d %18s %18s %18s %18s %15.2f %9.2f %13.2f %12.2f %13.2f %9s %10d" % (
            d, n, us(gi[1] * 1e-9, gi[0] * 1e-9), us(gb[1] * 1e-9, gb[0] * 1e-9),
            us(kd[0], kd[1]), us(br[0], br[1]), row["single"] * 1e6,
            kd[0] / (gi[1] * 1e-9), br[0] / (gi[1] * 1e-9), row["single"] / (gi[1] * 1e-9), gb[1] / gi[1],
            {None: "tree", 0.0: "tree", 1.0: "scan"}.get(gi[2], "?"), min(kd[2], br[2])))
        sys.stdout.flush()
        for ext in (".points", ".queries", ".ids"):
            os.remove(base + ext)
    print("# ratios > 1: scikit-learn (or Go's brute force) takes longer than Go's index; "
          "'go search' is the index's choice (tree descent or scan of every row)")
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
