#!/usr/bin/python3
"""How much can k labelled impressions add for a new user or a new category?

`metacat generate --latents` writes, next to log.csv, the draws behind every
row's true score (datasets/synthetic_logs.h):

  z(u, i) = 1.5 p_u.v_i / sqrt(3 f) - kappa_u (log_price_i - m_c) + q_s + b_c - 1.5

with the user's preference p_u = mean of its departments' prototypes
+ T N(0, I) (a first department, the log's `segment` column, and with
probability 0.4 a second one, drawn uniformly among the others), its
price sensitivity kappa_u = |N(0.5, 0.3^2)|, and the item's latent vector
v_i = w_c (its category's direction: the department's prototype
+ C N(0, I)) + what its brand and tags give it + its own part 0.6 N(0, I).
A share F of a user's impressions fall in its departments' categories.
T, C and F (generate's --taste-spread, --category-spread, --exposure-focus)
are read from latents-spec.csv.

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

from preference_bound import auc  # the same per-episode AUC (bench/)


def read_csv(d, name):
    path = os.path.join(d, name)
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing: write the log with `metacat generate --latents`")
    with open(path) as f:
        return list(csv.reader(f))[1:]


class Log:
    """log.csv and the latents behind it."""

    def __init__(self, d):
        rows = read_csv(d, "latents-departments.csv")
        self.dept_names = [r[0] for r in rows]
        dept = {n: k for k, n in enumerate(self.dept_names)}
        self.P = np.array([[float(x) for x in r[1:]] for r in rows])
        if os.path.exists(os.path.join(d, "latents-spec.csv")):
            spec = {r[0]: float(r[1]) for r in read_csv(d, "latents-spec.csv")}
        else:  # written before generate had these options: its fixed values
            print(f"{d}: no latents-spec.csv; taking the generator's defaults")
            spec = {"taste_spread": 0.5, "category_spread": 0.5, "exposure_focus": 0.8}
        self.taste = spec["taste_spread"]
        self.spread = spec["category_spread"]
        self.focus = spec["exposure_focus"]  # chance an impression is drawn from own departments
        f = self.f = self.P.shape[1]
        self.scale = 1.5 / math.sqrt(3 * f)
        self.cat_dept, self.w = {}, {}
        for r in read_csv(d, "latents-categories.csv"):
            self.cat_dept[r[0]] = dept[r[1]]
            self.w[r[0]] = np.array([float(x) for x in r[2:]])
        self.n_cats = len(self.w)
        self.per_dept = np.bincount(list(self.cat_dept.values()), minlength=len(self.P))
        # item -> category, log price - price level, category bias, shop
        # quality, v, v - w_c - own part (what its brand and tags give it)
        self.items = {}
        for r in read_csv(d, "latents-items.csv"):
            v = np.array([float(x) for x in r[7 : 7 + f]])
            own = np.array([float(x) for x in r[7 + f : 7 + 2 * f]])
            self.items[r[0]] = (r[1], float(r[3]) - float(r[4]), float(r[5]), float(r[6]), v,
                                v - self.w[r[1]] - own)
        # user -> department indices, kappa, p
        self.users = {}
        for r in read_csv(d, "latents-users.csv"):
            self.users[r[0]] = ([dept[x] for x in r[1].split("|")], float(r[2]),
                                np.array([float(x) for x in r[3 : 3 + f]]))
        self.rows = []  # user, category, item, click, z, history
        with open(os.path.join(d, "log.csv")) as fh:
            rd = csv.reader(fh)
            col = {c: k for k, c in enumerate(next(rd))}
            for r in rd:
                self.rows.append((r[col["user"]], r[col["category"]], r[col["item"]],
                                  int(r[col["click"]]), float(r[col["z"]]),
                                  r[col["history"]].split()))
        # The latents must be those of this log: recompute z on some rows.
        for u, c, i, _, z, _ in self.rows[:: max(1, len(self.rows) // 200)]:
            _, kappa, p = self.users[u]
            _, dev, bias, quality, v, _ = self.items[i]
            mine = self.scale * p @ v - kappa * dev + quality + bias - 1.5
            if abs(mine - z) > 1e-4:
                raise SystemExit(f"{d}: the latents do not reproduce log.csv's z (stale files?)")

    def shown(self, cat_depts, depts_of_user):
        """P(an impression lands on a category of department cat_depts |
        the user's departments): [rows] x [samples, up to 2] -> [samples, rows]."""
        out = np.zeros((depts_of_user.shape[0], len(cat_depts)))
        n = (depts_of_user >= 0).sum(1, keepdims=True)
        for j in range(depts_of_user.shape[1]):
            d = depts_of_user[:, j : j + 1]
            hit = (d == np.asarray(cat_depts)[None, :]) & (d >= 0)
            out += hit / np.maximum(self.per_dept[np.maximum(d, 0)], 1)
        # Floored: at F = 1 a department without categories would give log 0.
        return np.maximum(self.focus * out / n + (1 - self.focus) / self.n_cats, 1e-300)


def episodes(a, log, rng, add, key):
    """Episodes of one task kind (key 0: users, 1: categories): each a task's
    rows in a seeded order, its queries after the first max(shots), with the
    oracle's AUC recorded. Yields (name, rows, query, query labels)."""
    tasks = {}
    for r in log.rows:
        tasks.setdefault(r[key], []).append(r)
    need = max(a.shots) + a.queries
    pool = sorted(t for t, rs in tasks.items() if len(rs) >= need)
    if not pool:
        raise SystemExit(f"no {a.kind} has {need} impressions")
    for name in rng.choice(pool, size=min(a.episodes, len(pool)), replace=False):
        rows = [tasks[name][k] for k in rng.permutation(len(tasks[name]))[:need]]
        query = rows[max(a.shots) :]
        y_q = np.array([r[3] for r in query], float)
        add("oracle", auc(np.array([r[4] for r in query]), y_q))
        yield name, rows, query, y_q


def user_bound(a, log, rng, add):
    """New users: known everything but the user's second department, p and
    kappa; weighted by the categories it was shown and the labels."""
    D = len(log.P)
    for name, rows, query, y_q in episodes(a, log, rng, add, 0):
        # Prior samples: the first department is the segment (known); with
        # probability 0.4 a second one, uniform among the others.
        d0 = log.users[name][0][0]
        two = (rng.random(a.samples) < 0.4) & (D > 1)
        second = (d0 + 1 + rng.integers(max(D - 1, 1), size=a.samples)) % D
        depts = np.stack([np.full(a.samples, d0), np.where(two, second, -1)], 1)
        mean = np.where(two[:, None], (log.P[d0] + log.P[second]) / 2, log.P[d0])
        p = mean + log.taste * rng.standard_normal((a.samples, log.f))
        kappa = np.abs(0.5 + 0.3 * rng.standard_normal(a.samples))

        def logits(items):
            it = [log.items[i] for i in items]
            V = np.stack([x[4] for x in it])
            dev = np.array([x[1] for x in it])
            off = np.array([x[2] + x[3] for x in it])
            return log.scale * p @ V.T - kappa[:, None] * dev[None, :] + off[None, :] - 1.5

        def exposure(items):  # log P(shown these items' categories | departments)
            if a.no_exposure:
                return np.zeros(a.samples)
            cats = [log.cat_dept[log.items[i][0]] for i in items]
            return np.log(log.shown(cats, depts)).sum(1)

        zq = logits([r[2] for r in query])
        q_items = {r[2] for r in query}
        for k in a.shots:
            support = rows[:k]
            seen = [r[2] for r in support + query]  # rows the learner is given
            base = exposure(seen)
            if k:
                zs = logits([r[2] for r in support])
                ys = np.array([r[3] for r in support], float)
                base = base + (ys * zs - np.logaddexp(0, zs)).sum(1)
            for hist in (False, True):
                logw = base
                if hist:
                    # Clicked items the rows' histories name, other than the
                    # episode's own rows (whose labels are given or asked).
                    named = sorted({h for r in support + query for h in r[5]} - set(seen) - q_items)
                    if named:
                        logw = logw - np.logaddexp(0, -logits(named)).sum(1) + exposure(named)
                wt = np.exp(logw - logw.max())
                wt /= wt.sum()
                prob = wt @ (1 / (1 + np.exp(-zq)))
                add(("bayes+hist" if hist else "bayes") + f"-{k}", auc(prob, y_q))


def category_bound(a, log, rng, add):
    """New categories: known every user's departments, p and kappa, the
    items' prices, shop terms and brand-and-tags parts, and the category's
    price level; unknown its department, direction w_c, bias and its (new)
    items' own parts, sampled jointly from their priors and weighted by
    which users were shown the category and by the labels."""
    D, f = len(log.P), log.f
    for name, rows, query, y_q in episodes(a, log, rng, add, 1):
        d = rng.integers(D, size=a.samples)
        w = log.P[d] + log.spread * rng.standard_normal((a.samples, f))
        bias = 0.3 * rng.standard_normal(a.samples)
        distinct = sorted({r[2] for r in rows})
        slot = {i: k for k, i in enumerate(distinct)}
        own = 0.6 * rng.standard_normal((a.samples, len(distinct), f))

        def logits(rs):
            _, kap, P_u = zip(*(log.users[r[0]] for r in rs))
            p = np.stack(P_u)
            it = [log.items[r[2]] for r in rs]
            shared = np.stack([x[5] for x in it])
            dev = np.array([x[1] for x in it])
            quality = np.array([x[3] for x in it])
            o = own[:, [slot[r[2]] for r in rs], :]  # [samples, rows, f]
            return (log.scale * (w @ p.T + (p * shared).sum(1)[None, :] + (o * p[None]).sum(2))
                    - np.array(kap) * dev + quality + bias[:, None] - 1.5)

        def exposure(rs):  # log P(these users shown this category | its department)
            out = np.zeros(a.samples)
            if a.no_exposure:
                return out
            for r in rs:
                du = log.users[r[0]][0]
                per = np.array([log.focus * (dd in du) / (len(du) * max(log.per_dept[dd], 1))
                                + (1 - log.focus) / log.n_cats for dd in range(D)])
                out += np.log(np.maximum(per[d], 1e-300))  # 0 where F = 1
            return out

        pq = 1 / (1 + np.exp(-logits(query)))
        for k in a.shots:
            support = rows[:k]
            logw = exposure(support + query)
            if k:
                zs = logits(support)
                ys = np.array([r[3] for r in support], float)
                logw = logw + (ys * zs - np.logaddexp(0, zs)).sum(1)
            wt = np.exp(logw - logw.max())
            wt /= wt.sum()
            add(f"bayes-{k}", auc(wt @ pq, y_q))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--logs", required=True, help="folder of `metacat generate --latents`")
    ap.add_argument("--kind", choices=["user", "category"], default="user",
                    help="new users (default) or new categories")
    ap.add_argument("--episodes", type=int, default=1000)
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 1, 5, 10])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--samples", type=int, default=20000, help="prior samples per episode")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--no-exposure", action="store_true",
                    help="ignore which categories a user is shown (users) / which users are "
                    "shown a category (categories): what the labels alone tell")
    a = ap.parse_args()
    log = Log(a.logs)
    rng = np.random.default_rng(a.seed)
    res = {}  # method -> per-episode AUC

    def add(method, value):
        res.setdefault(method, []).append(value)

    (user_bound if a.kind == "user" else category_bound)(a, log, rng, add)
    print(f"{len(res['oracle'])} new-{a.kind} episodes of {a.logs}, {a.queries} queries, "
          f"{a.samples} prior samples each (seed {a.seed})"
          f"{', exposure ignored' if a.no_exposure else ''}:")
    print("method          AUC      95% interval")
    for m, v in res.items():
        v = np.array(v)
        v = v[~np.isnan(v)]
        print(f"{m:14} {v.mean():.4f}   ± {1.96 * v.std(ddof=1) / math.sqrt(len(v)):.4f}")
    for h in ("bayes", "bayes+hist"):
        if f"{h}-0" not in res:
            continue
        for k in a.shots:
            if k == 0:
                continue
            d = np.array(res[f"{h}-{k}"]) - np.array(res[f"{h}-0"])
            d = d[~np.isnan(d)]
            print(f"{h}-{k} - {h}-0, paired: {d.mean():+.4f} ± "
                  f"{1.96 * d.std(ddof=1) / math.sqrt(len(d)):.4f}")


if __name__ == "__main__":
    main()
