#!/usr/bin/env python3
"""Paired difference of two evaluations of the same episodes.

    bench/paired.py A.json B.json [--method M] [--method-b MB] [--same REF]

A and B are eval.json files (`metacat eval --json`, or a run's eval.json)
of the same episodes: the same data, split, `eval.seed`, `eval.queries`,
episode count and shot counts. For each shot count (and warm/cold group) it prints A's method
minus B's method, per episode where both are defined, as mean ± 95%
interval (1.96 x sample std / sqrt(n), the interval metacat prints), and
whether the interval is apart from 0.

--same REF checks that the two files are evaluations of the same episodes:
method REF's per-episode values must be equal, bit for bit, in both (for
example the learner itself, next to two `<learner>+metaemb` variants, both
evaluated with the same thread count), else it exits 1.
"""
import argparse
import json
import math
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


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--method", default="maml+metaemb", help="A's method (default maml+metaemb)")
    ap.add_argument("--method-b", help="B's method (default: --method)")
    ap.add_argument("--same", help="a method whose per-episode values must match in A and B")
    args = ap.parse_args()
    a, b = load(args.a), load(args.b)
    mb = args.method_b or args.method
    if args.same:
        ref = [k for k in a if k[0] == args.same]
        if not ref:
            sys.exit(f"{args.a}: no method {args.same}")
        for k in ref:
            if k not in b:
                sys.exit(f"{args.b}: no {args.same} at {where(k[1], k[2])} to check the episodes by")
            if b[k] != a[k]:
                sys.exit(f"not the same episodes: {args.same} {where(k[1], k[2])} differs")
    rows = common = 0
    for (m, group, shots), va in sorted(a.items(), key=lambda kv: (kv[0][1], kv[0][2])):
        if m != args.method or (mb, group, shots) not in b:
            continue
        common += 1
        vb = b[(mb, group, shots)]
        if len(va) != len(vb):
            sys.exit(f"{where(group, shots)}: {len(va)} episodes in A, {len(vb)} in B")
        p = paired(va, vb)
        if p is None:
            print(f"{where(group, shots)}: fewer than 2 episodes defined in both", file=sys.stderr)
            continue
        mean, ci, n = p
        verdict = "apart from 0" if abs(mean) > ci else "includes 0"
        print(f"{where(group, shots)}: A {m} - B {mb}, paired over {n} "
              f"episodes: {mean:+.4f} ± {ci:.4f} ({verdict})")
        rows += 1
    if common == 0:
        sys.exit(f"no shot count has {args.method} in A and {mb} in B")
    if rows == 0:
        sys.exit("no shot count has two or more episodes defined in both")


if __name__ == "__main__":
    main()
