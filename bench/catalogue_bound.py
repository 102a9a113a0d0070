#!/usr/bin/python3
"""How much can k labelled impressions add for a new user or a new category?

`metacat generate --latents` writes, next to log.csv, the draws behind every
row's true score (datasets/synthetic_logs.h):

  z(u, i) = 1.5 p_u.v_i / sqrt(3 f) - kappa_u (log_price_i - m_c) + q_s + b_c - 1.5

with the user's preference p_u = mean of its departments' prototypes
+ 0.5 N(0, I) (a first department, the log's `segment` column, and with
probability 0.4 a second one, drawn uniformly among the others), its
price sensitivity kappa_u = |N(0.5, 0.3^2)|, and the item's latent vector
v_i = w_c (its category's direction: the department's prototype
+ 0.5 N(0, I)) + what its brand and tags give it + its own part 0.6 N(0, I).

This script scores query impressions with the metric metacat reports
(each episode's query AUC, averaged over episodes):

  oracle        the true score z (metacat's `--baseline oracle`);
  bayes-k       the posterior predictive click probability given k
                labelled support impressions and everything an ideal
                learner could have learnt from the training tasks.
                --kind user (an episode is a new user): it knows every
                item's latent vector, price, shop and category terms and
                the department prototypes, and the user's segment; it does
                not know the user's p and kappa (importance sampling from
                their prior, weighted by the k Bernoulli likelihoods).
                --kind category (an episode is a new category): it knows
                every user's p and kappa, the prices, shop terms and each
                item's brand-and-tags part; it does not know the category's
                direction w_c (nor its department) and, the items being
                new, not their own parts, which it integrates out (probit
                approximation, each row on its own);
  bayes+hist-k  (users) the same, also counting the items the episode's
                rows name in their click history (what the model reads in
                the `history` column) as clicked examples. Items of the
                query set are left out of it, and the impressions the user
                did not click between them are not in the log, so this is
                an approximation of what the history tells.

bayes-k is the best AUC a learner with these inputs can expect at k shots
(up to the approximations named). bayes-k - bayes-0 is what k shots add to
the best 0-shot start; a learner whose 0-shot start is below bayes-0 can
gain more from its shots, since its support set also teaches it what the
ideal learner knew already, but it cannot end above bayes-k. For users,
bayes+hist-0 - bayes-0 is what the history column already tells.

An episode's impressions come in a seeded order: the queries are the
QUERIES after the first max(SHOTS) (the same for every k: paired), the
k-shot support the first k.

Usage: bench/catalogue_bound.py --logs DIR [--kind user|category]
       [--episodes N] [--shots 0 1 5 10] [--queries 30] [--samples 20000]
       [--seed 1]
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


def read_csv(d, name):
    with open(os.path.join(d, name)) as f:
        return list(csv.reader(f))[1:]


def read_latents(d):
    protos = {r[0]: np.array([float(x) for x in r[1:]]) for r in read_csv(d, "latents-departments.csv")}
    f = len(next(iter(protos.values())))
    w = {r[0]: np.array([float(x) for x in r[2:]]) for r in read_csv(d, "latents-categories.csv")}
    items = {}
    for r in read_csv(d, "latents-items.csv"):
        v = np.array([float(x) for x in r[7:7 + f]])
        own = np.array([float(x) for x in r[7 + f:7 + 2 * f]])
        # item -> (price deviation, q_s + b_c, v, v - w_c - own: what its
        # brand, tags and brand-in-category give it)
        items[r[0]] = (float(r[3]) - float(r[4]), float(r[5]) + float(r[6]), v, v - w[r[1]] - own)
    users = {}
    for r in read_csv(d, "latents-users.csv"):
        users[r[0]] = (float(r[2]), np.array([float(x) for x in r[3:3 + f]]))
    return protos, items, users


def read_log(d, key):
    """Rows grouped by task: key "user" or "category"."""
    tasks = {}
    with open(os.path.join(d, "log.csv")) as f:
        rd = csv.reader(f)
        head = next(rd)
        col = {c: k for k, c in enumerate(head)}
        for r in rd:
            t = tasks.setdefault(r[col[key]], {"segment": r[col["segment"]], "rows": []})
            t["rows"].append((r[col["item"]], int(r[col["click"]]), float(r[col["z"]]),
                              r[col["history"]].split(), r[col["user"]]))
    return tasks


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logs", required=True, help="folder of `metacat generate --latents`")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 1, 5, 10])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--samples", type=int, default=20000, help="prior samples per episode")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kind", choices=["user", "category"], default="user",
                    help="new users (default) or new categories")
    a = ap.parse_args()
    protos, items, user_latents = read_latents(a.logs)
    users = read_log(a.logs, a.kind)
    names = sorted(protos)
    P = np.stack([protos[n] for n in names])
    f = P.shape[1]
    scale = 1.5 / math.sqrt(3 * f)
    rng = np.random.default_rng(a.seed)
    need = max(a.shots) + a.queries
    pool = sorted(u for u, r in users.items() if len(r["rows"]) >= need)
    if not pool:
        raise SystemExit(f"no {a.kind} has {need} impressions")
    chosen = rng.choice(pool, size=min(a.episodes, len(pool)), replace=False)
    res = {}  # method -> list of per-episode AUC

    def add(method, value):
        res.setdefault(method, []).append(value)

    if a.kind == "category":
        category_bound(a, users, chosen, items, user_latents, P, scale, rng, add)
        report(a, res)
        return
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
    report(a, res)


def category_bound(a, tasks, chosen, items, user_latents, P, scale, rng, add):
    """New categories: the ideal learner knows every user's p and kappa,
    every item's price deviation, shop and category terms, and the part of
    its latent vector its brand and tags give it; it does not know the
    category's direction w_c (department uniform, w_c = u_d + 0.5 N(0, I))
    nor the items' own parts (0.6 N(0, I) each: new items), which it
    integrates out (probit approximation, each row on its own)."""
    f = P.shape[1]
    need = max(a.shots) + a.queries
    for name in chosen:
        rows = tasks[name]["rows"]
        rows = [rows[k] for k in rng.permutation(len(rows))[:need]]
        query = rows[max(a.shots):]
        y_q = np.array([r[1] for r in query], float)
        add("oracle", auc(np.array([r[2] for r in query]), y_q))
        d = rng.integers(len(P), size=a.samples)
        w = P[d] + 0.5 * rng.standard_normal((a.samples, f))

        def probs(rows_):
            kap = np.array([user_latents[r[4]][0] for r in rows_])
            p = np.stack([user_latents[r[4]][1] for r in rows_])
            dev = np.array([items[r[0]][0] for r in rows_])
            off = np.array([items[r[0]][1] for r in rows_])
            shared = np.stack([items[r[0]][3] for r in rows_])
            mean = scale * (w @ p.T + (p * shared).sum(1)) - kap * dev + off - 1.5
            var = scale**2 * 0.36 * (p * p).sum(1)
            return 1 / (1 + np.exp(-mean / np.sqrt(1 + math.pi * var / 8)))

        pq = probs(query)
        for k in a.shots:
            logw = np.zeros(a.samples)
            if k:
                ps = np.clip(probs(rows[:k]), 1e-12, 1 - 1e-12)
                ys = np.array([r[1] for r in rows[:k]], float)
                logw += (ys * np.log(ps) + (1 - ys) * np.log(1 - ps)).sum(1)
            wt = np.exp(logw - logw.max())
            wt /= wt.sum()
            add(f"bayes-{k}", auc(wt @ pq, y_q))


def report(a, res):
    n = len(res["oracle"])
    print(f"{n} new-{a.kind} episodes of {a.logs}, {a.queries} queries, "
          f"{a.samples} prior samples each (seed {a.seed}):")
    print("method          AUC      95% interval")
    for m, v in res.items():
        v = np.array(v)
        v = v[~np.isnan(v)]
        print(f"{m:14} {v.mean():.4f}   ± {1.96 * v.std(ddof=1) / math.sqrt(len(v)):.4f}")
    base = {h: np.array(res[f"{h}-0"]) for h in ("bayes", "bayes+hist") if f"{h}-0" in res}
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
