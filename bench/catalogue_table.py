#!/usr/bin/env python3
"""The catalogue table, and the result lines it reads.

    bench/catalogue_table.py RESULTS.jsonl
        each method's test AUC over training seeds with its t-interval and
        gap to the oracle, then the learner against each baseline (seeds,
        episodes, paired), from one JSON line per (kind, seed, method,
        shots);
    bench/catalogue_table.py rows EVAL_JSON KIND SEED [--oracle-from JSON]
                                  [--only M,M | --without M,M | --learner]
        those lines from one run's eval.json (the oracle's AUC from
        --oracle-from, default EVAL_JSON itself), all its methods, only
        some, all but some, or its learner's (the methods that are not
        baselines, without the "+metaemb" ones).

bench/catalogue.sh and bench/retrain.sh write and read them.
"""
import argparse, json, math, sys

BASELINES = {"finetune", "scratch", "oracle"}


def rows(argv):
    ap = argparse.ArgumentParser(prog="catalogue_table.py rows")
    ap.add_argument("eval_json")
    ap.add_argument("kind")
    ap.add_argument("seed", type=int)
    ap.add_argument("--oracle-from")
    pick = ap.add_mutually_exclusive_group()
    pick.add_argument("--only")
    pick.add_argument("--without")
    pick.add_argument("--learner", action="store_true")
    a = ap.parse_args(argv)
    res = json.load(open(a.eval_json))["results"]
    ref = json.load(open(a.oracle_from))["results"] if a.oracle_from else res
    oracle = {r["shots"]: r["mean"] for r in ref if r["method"] == "oracle"}
    for r in res:
        m = r["method"]
        if ((a.only and m not in a.only.split(",")) or
                (a.without and m in a.without.split(",")) or
                (a.learner and (m in BASELINES or "+" in m))):
            continue
        print(json.dumps({"kind": a.kind, "seed": a.seed, "method": m, "shots": r["shots"],
                          "auc": r["mean"], "ci95": r["ci95"],
                          "coverage@10": r["metrics"].get("coverage@10"),
                          "oracle_auc": oracle.get(r["shots"])}))


if len(sys.argv) > 1 and sys.argv[1] == "rows":
    rows(sys.argv[2:])
    sys.exit(0)
rows = [json.loads(l) for l in open(sys.argv[1])]
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262]  # t(0.975, n-1)
def t_interval(v):
    if len(v) < 2:
        return float("nan")
    m = sum(v) / len(v)
    sd = math.sqrt(sum((x - m) ** 2 for x in v) / (len(v) - 1))
    return T95[min(len(v) - 2, len(T95) - 1)] * sd / math.sqrt(len(v))
print("\nTest AUC: mean over training seeds ± t-based 95% interval over the seeds;")
print("in brackets each seed's mean ± 95% interval over its episodes.")
print("kind      method           shots  AUC over seeds    gap to oracle  (per seed)")
keys = sorted({(r["kind"], r["method"], r["shots"]) for r in rows})
by = {k: [r for r in rows if (r["kind"], r["method"], r["shots"]) == k] for k in keys}
for (kind, method, shots), rs in by.items():
    v = [r["auc"] for r in rs]
    m = sum(v) / len(v)
    t = t_interval(v)
    o = sum(r["oracle_auc"] for r in rs) / len(rs)
    per = " ".join(f"{r['auc']:.4f}±{r['ci95']:.4f}" for r in rs)
    print(f"{kind:9} {method:16} {shots:5}  {m:.4f} ± {t:.4f}   {o - m:+.4f}        ({per})")
# The learner against each baseline:
#   seeds     the learner's t-interval over training seeds (the table
#             above) above the baseline's, below it, or overlapping;
#   episodes  in every seed, the learner's interval over its episodes above
#             the baseline's (the stricter: it asks each seed alone);
#   paired    learner - baseline in each seed (one training seed gives
#             both runs, on the same test episodes): its mean and
#             t-interval over the seeds.
learners = {r["method"] for r in rows} - BASELINES
learners = {m for m in learners if "+" not in m}
print()
for (kind, method, shots), rs in by.items():
    if method not in ("finetune", "scratch"):
        continue
    for l in sorted(learners):
        ls = by.get((kind, l, shots), [])
        pairs = {r["seed"]: r for r in rs}
        if not ls:
            continue
        if any(x["seed"] not in pairs for x in ls):
            print(f"{kind:9} {shots:2}-shot  {l} vs {method}: not compared (a seed lacks one of them)")
            continue
        lv, bv = [x["auc"] for x in ls], [pairs[x["seed"]]["auc"] for x in ls]
        ml, mb = sum(lv) / len(lv), sum(bv) / len(bv)
        seeds = ("above" if ml - t_interval(lv) > mb + t_interval(bv) else
                 "below" if ml + t_interval(lv) < mb - t_interval(bv) else "overlap")
        episodes_apart = all(x["auc"] - x["ci95"] > pairs[x["seed"]]["auc"] + pairs[x["seed"]]["ci95"]
                             for x in ls)
        d = [a - b for a, b in zip(lv, bv)]
        print(f"{kind:9} {shots:2}-shot  {l} vs {method}: seeds {seeds}, "
              f"episodes {'apart in every seed' if episodes_apart else 'overlap in some seed'}, "
              f"paired {sum(d) / len(d):+.4f} ± {t_interval(d):.4f}")
