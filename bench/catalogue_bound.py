#!/usr/bin/python3
"""How much can k labelled impressions add for a new user of the generated log?

`metacat generate --latents` writes, next to log.csv, the draws behind every
row's true score (datasets/synthetic_logs.h):

  z(u, i) = 1.5 p_u.v_i / sqrt(3 f) - kappa_u (log_price_i - m_c) + q_s + b_c - 1.5

with the user's preference p_u = mean of its departments' prototypes
+ 0.5 N(0, I) (a first department, the log's `segment` column, and with
probability 0.4 a second one, drawn uniformly among the others), and its
price sensitivity kappa_u = |N(0.5, 0.3^2)|.

This script scores new users' query impressions with the metric metacat
reports (each episode's query AUC, averaged over episodes):

  oracle        the true score z (metacat's `--baseline oracle`);
  bayes-k       the posterior predictive click probability given the user's
                segment and k labelled support impressions, knowing
                everything else the generator drew: every item's latent
                vector, price level, shop and category terms, and the
                department prototypes. Importance sampling from the user
                prior, weighted by the k Bernoulli likelihoods;
  bayes+hist-k  the same, also counting the items the episode's rows name
                in their click history (what the model reads in the
                `history` column) as clicked examples. Items of the query
                set are left out of it, and the impressions the user
                did not click between them are not in the log, so this is
                an approximation of what the history tells.

No learner can beat bayes-k on average with the same inputs: it knows all
a learner would have to estimate from the training users. So
bayes-k - bayes-0 bounds what k shots can add to the best 0-shot start,
and the difference between the two bayes rows is what the history column
already tells at 0 shots.

An episode is one user: its impressions in a seeded order, the queries the
QUERIES after the first max(SHOTS) (the same for every k: paired), the
k-shot support the first k.

Usage: bench/catalogue_bound.py --logs DIR [--episodes N] [--shots 0 1 5 10]
       [--queries 30] [--samples 20000] [--seed 1]
Only numpy is needed.
"""

import argparse
import csv
import math
import os

import numpy as np


def auc(score, y):
    """Mann-Whitney AUC with averaged ranks for ties; nan with one class."""
    pos = y > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i : j + 1]] = (i + j) / 2 + 1
        i = j + 1
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def read_latents(d):
    with open(os.path.join(d, "latents-departments.csv")) as f:
        rows = list(csv.reader(f))[1:]
    protos = {r[0]: np.array([float(x) for x in r[1:]]) for r in rows}
    items = {}
    with open(os.path.join(d, "latents-items.csv")) as f:
        for r in list(csv.reader(f))[1:]:
            # item -> (price deviation, q_s + b_c, v)
            items[r[0]] = (
                float(r[3]) - float(r[4]),
                float(r[5]) + float(r[6]),
                np.array([float(x) for x in r[7:]]),
            )
    return protos, items


def read_log(d):
    users = {}
    with open(os.path.join(d, "log.csv")) as f:
        rd = csv.reader(f)
        head = next(rd)
        col = {c: k for k, c in enumerate(head)}
        for r in rd:
            u = users.setdefault(r[col["user"]], {"segment": r[col["segment"]], "rows": []})
            u["rows"].append((r[col["item"]], int(r[col["click"]]), float(r[col["z"]]),
                              r[col["history"]].split()))
    return users


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logs", required=True, help="folder of `metacat generate --latents`")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 1, 5, 10])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--samples", type=int, default=20000, help="prior samples per episode")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    protos, items = read_latents(a.logs)
    users = read_log(a.logs)
    names = sorted(protos)
    P = np.stack([protos[n] for n in names])
    f = P.shape[1]
    scale = 1.5 / math.sqrt(3 * f)
    rng = np.random.default_rng(a.seed)
    need = max(a.shots) + a.queries
    pool = sorted(u for u, r in users.items() if len(r["rows"]) >= need)
    if not pool:
        raise SystemExit(f"no user has {need} impressions")
    chosen = rng.choice(pool, size=min(a.episodes, len(pool)), replace=False)
    res = {}  # method -> list of per-episode AUC

    def add(method, value):
        res.setdefault(method, []).append(value)

    for name in chosen:
        u = users[name]
        rows = [u["rows"][k] for k in rng.permutation(len(u["rows"]))[:need]]
        query = rows[max(a.shots):]
        y_q = np.array([r[1] for r in query], float)
        add("oracle", auc(np.array([r[2] for r in query]), y_q))
        # Prior samples of (p, kappa): the segment is the first department.
        d0 = names.index(u["segment"])
        others = [k for k in range(len(names)) if k != d0]
        two = rng.random(a.samples) < 0.4
        second = np.array(others)[rng.integers(len(others), size=a.samples)]
        mean = np.where(two[:, None], (P[d0] + P[second]) / 2, P[d0])
        p = mean + 0.5 * rng.standard_normal((a.samples, f))
        kappa = np.abs(0.5 + 0.3 * rng.standard_normal(a.samples))

        def logits(names_):
            dev = np.array([items[i][0] for i in names_])
            off = np.array([items[i][1] for i in names_])
            V = np.stack([items[i][2] for i in names_])
            return scale * p @ V.T - kappa[:, None] * dev[None, :] + off[None, :] - 1.5

        zq = logits([r[0] for r in query])
        q_items = {r[0] for r in query}
        for k in a.shots:
            support = rows[:k]
            for hist in (False, True):
                logw = np.zeros(a.samples)
                if k:
                    zs = logits([r[0] for r in support])
                    ys = np.array([r[1] for r in support], float)
                    logw += (ys * zs - np.logaddexp(0, zs)).sum(1)
                if hist:
                    named = sorted({h for r in support + query for h in r[3]} - q_items)
                    if named:
                        logw += -np.logaddexp(0, -logits(named)).sum(1)
                w = np.exp(logw - logw.max())
                w /= w.sum()
                prob = w @ (1 / (1 + np.exp(-zq)))
                add(("bayes+hist" if hist else "bayes") + f"-{k}", auc(prob, y_q))
    print(f"{len(chosen)} new-user episodes of {a.logs}, {a.queries} queries, "
          f"{a.samples} prior samples each (seed {a.seed}):")
    print("method          AUC      95% interval")
    for m, v in res.items():
        v = np.array(v)
        v = v[~np.isnan(v)]
        print(f"{m:14} {v.mean():.4f}   ± {1.96 * v.std(ddof=1) / math.sqrt(len(v)):.4f}")
    base = {h: np.array(res[f"{h}-0"]) for h in ("bayes", "bayes+hist")} if 0 in a.shots else {}
    for h, b0 in base.items():
        for k in a.shots:
            if k == 0:
                continue
            d = np.array(res[f"{h}-{k}"]) - b0
            d = d[~np.isnan(d)]
            print(f"{h}-{k} - {h}-0, paired: {d.mean():+.4f} ± "
                  f"{1.96 * d.std(ddof=1) / math.sqrt(len(d)):.4f}")


if __name__ == "__main__":
    main()
