#!/usr/bin/env python3
"""Paired difference of two evaluations of the same episodes.

    bench/paired.py A.json B.json [A2.json B2.json ...] [--method M]
                    [--method-b MB] [--same REF]

A and B are eval.json files (`metacat eval --json`, or a run's eval.json)
of the same episodes: the same data, split, `eval.seed`, `eval.queries`,
episode count and shot counts. For each shot count (and warm/cold group)
it prints A's method minus B's method, per episode where both are
defined, as mean ± 95% interval (1.96 x sample std / sqrt(n), the
interval metacat prints), and whether the interval is apart from 0.

With several pairs (one per run, e.g. per training seed), each pair's
lines start with A's file name, and a last block gives, per setting, the
mean of the runs' differences ± Student t-interval over the runs.

--same REF checks that the two files are evaluations of the same episodes:
method REF's per-episode values must be equal, bit for bit, in both (for
example the learner itself, next to two `<learner>+metaemb` variants, both
evaluated with the same thread count), else it exits 1.
"""
import argparse
import json
import math
import os
import sys


def load(path):
    with open(path) as f:
        d = json.load(f)
    out = {}
    for r in d.get("results", []):
        if "per_episode" not in r:
            sys.exit(f"{path}: results without per_episode (written before it was kept)")
        key = (r["method"], r.get("categories", ""), r["shots"])
        if key in out:
            sys.exit(f"{path}: {where(key[1], key[2])} {key[0]} appears twice (two checkpoints?)")
        out[key] = r["per_episode"]
    return out


def where(group, shots):
    return f"{group + ' ' if group else ''}{shots}-shot"


def paired(a, b):
    d = [x - y for x, y in zip(a, b) if x is not None and y is not None]
    n = len(d)
    if n < 2:
        return None
    mean = sum(d) / n
    sd = math.sqrt(sum((x - mean) ** 2 for x in d) / (n - 1))
    return mean, 1.96 * sd / math.sqrt(n), n


# Student t, 97.5% quantile, by degrees of freedom 1-10 (past 10: the value
# at 10, wider than the true one).
T = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228]


def check_same(a, b, ref, path_a, path_b):
    keys = [k for k in a if k[0] == ref]
    if not keys:
        sys.exit(f"{path_a}: no method {ref}")
    for k in keys:
        if k not in b:
            sys.exit(f"{path_b}: no {ref} at {where(k[1], k[2])} to check the episodes by")
        if b[k] != a[k]:
            sys.exit(f"not the same episodes ({path_a}, {path_b}): {ref} {where(k[1], k[2])} differs")


def compare(a, b, ma, mb, label):
    """Prints A's ma - B's mb per (group, shots); returns {(group, shots): mean}."""
    out = {}
    common = 0
    for (m, group, shots), va in sorted(a.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if m != ma or (mb, group, shots) not in b:
            continue
        common += 1
        vb = b[(mb, group, shots)]
        if len(va) != len(vb):
            sys.exit(f"{label}{where(group, shots)}: {len(va)} episodes in A, {len(vb)} in B")
        p = paired(va, vb)
        if p is None:
            print(f"{label}{where(group, shots)}: fewer than 2 episodes defined in both",
                  file=sys.stderr)
            continue
        mean, ci, n = p
        verdict = "apart from 0" if abs(mean) > ci else "includes 0"
        print(f"{label}{where(group, shots)}: A {m} - B {mb}, paired over {n} "
              f"episodes: {mean:+.4f} ± {ci:.4f} ({verdict})")
        out[(group, shots)] = mean
    if common == 0:
        sys.exit(f"{label}no shot count has {ma} in A and {mb} in B")
    if not out:
        sys.exit(f"{label}no shot count has two or more episodes defined in both")
    return out


def over_runs(per_run):
    """Mean ± t-interval over the runs of each setting's paired mean."""
    print("\nA - B over the runs (mean ± t-interval over runs):")
    for key in sorted({k for r in per_run for k in r}):
        v = [r[key] for r in per_run if key in r]
        if len(v) < 2:
            print(f"{where(*key)}: {v[0]:+.4f} (one run)")
            continue
        mean = sum(v) / len(v)
        sd = math.sqrt(sum((x - mean) ** 2 for x in v) / (len(v) - 1))
        h = T[min(len(v) - 1, len(T)) - 1] * sd / math.sqrt(len(v))
        verdict = "apart from 0" if abs(mean) > h else "includes 0"
        above = sum(x > 0 for x in v)
        print(f"{where(*key)}: {mean:+.4f} ± {h:.4f} over {len(v)} runs, "
              f"{above} of {len(v)} above 0 ({verdict})")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("files", nargs="+", metavar="A.json B.json", help="one or more pairs")
    ap.add_argument("--method", default="maml+metaemb", help="A's method (default maml+metaemb)")
    ap.add_argument("--method-b", help="B's method (default: --method)")
    ap.add_argument("--same", help="a method whose per-episode values must match in A and B")
    args = ap.parse_args()
    if len(args.files) % 2:
        sys.exit("give the files in pairs: A.json B.json [A2.json B2.json ...]")
    pairs = list(zip(args.files[0::2], args.files[1::2]))
    mb = args.method_b or args.method
    per_run = []
    for path_a, path_b in pairs:
        a, b = load(path_a), load(path_b)
        if args.same:
            check_same(a, b, args.same, path_a, path_b)
        label = "" if len(pairs) == 1 else os.path.basename(path_a) + " "
        per_run.append(compare(a, b, args.method, mb, label))
    if len(pairs) > 1:
        over_runs(per_run)


if __name__ == "__main__":
    main()
