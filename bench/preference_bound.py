#!/usr/bin/python3
"""How much can k labelled interactions add to a category's descriptor start?

The synthetic catalogue (datasets/synthetic_catalogue.cpp) draws, per
category: a department d (uniform over D prototypes p_d ~ N(0, I_F)), click
weights w = p_d + spread * N(0, I_F), a bias b ~ N(0, 0.5^2), and a descriptor
P w + N(0, 0.1^2 I_A) with P ~ N(0, 1/F). An item x ~ N(0, I_F) has the true
logit z = (2 / sqrt(F)) x.w + b and is clicked with probability
sigmoid(z / label_noise).

This script draws categories from that same distribution and scores query
items three ways, with the metric metacat reports (the AUC of each episode's
query set, averaged over episodes):

  oracle   the true logit z (metacat's `--baseline oracle`);
  bayes-k  the posterior predictive click probability given the category's
           descriptor and k labelled support items, computed with the
           generator's own parameters (prototypes, P, spread, noise):
           the exact Gaussian posterior of (w, b) given the descriptor
           under each department, then importance weights from the k
           Bernoulli likelihoods.

No learner can beat bayes-k on average: it knows everything the learner
would have to estimate from the training categories. So
(bayes-k - bayes-0) / (oracle - bayes-0) bounds the share of the gap to the
oracle that k shots can close. Only numpy is needed.

Usage: bench/preference_bound.py [--episodes N] [--label-noise T] ...
"""

import argparse
import math

import numpy as np


def auc(score, y):
    """Mann-Whitney AUC with averaged ranks for ties; nan with one class."""
    pos = y > 0.5
    n_pos, n_neg = pos.sum(), (~pos).sum()
    if n_pos == 0 or n_neg == 0:
        return math.nan
    order = np.argsort(score, kind="mergesort")
    ranks = np.empty(len(score))
    s = score[order]
    i = 0
    while i < len(s):
        j = i
        while j + 1 < len(s) and s[j + 1] == s[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1.0
        i = j + 1
    return (ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--episodes", type=int, default=2000, help="categories drawn (one episode each)")
    ap.add_argument("--catalogues", type=int, default=10,
                    help="catalogues (prototypes and descriptor projection) the categories are spread over")
    ap.add_argument("--shots", type=int, nargs="+", default=[0, 1, 5, 10])
    ap.add_argument("--queries", type=int, default=30)
    ap.add_argument("--departments", type=int, default=8)
    ap.add_argument("--feature-dim", type=int, default=16)
    ap.add_argument("--descriptor-dim", type=int, default=8)
    ap.add_argument("--spread", type=float, default=0.5)
    ap.add_argument("--label-noise", type=float, default=1.0)
    ap.add_argument("--samples", type=int, default=20000, help="importance samples per category")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()

    rng = np.random.default_rng(a.seed)
    F, A, D = a.feature_dim, a.descriptor_dim, a.departments
    scale = 2.0 / math.sqrt(F)
    s2 = a.spread**2

    def click_prob(z):
        if a.label_noise == 0:
            return (z > 0).astype(float)
        return 1.0 / (1.0 + np.exp(-z / a.label_noise))

    kmax = max(a.shots)
    res = {"oracle": [], **{f"bayes-{k}": [] for k in a.shots}}
    for c in range(a.catalogues):
        n = a.episodes // a.catalogues + (c < a.episodes % a.catalogues)
        catalogue(rng, n, a, F, A, D, scale, s2, click_prob, kmax, res)
    report(res, a, F, A, D)


def catalogue(rng, episodes, a, F, A, D, scale, s2, click_prob, kmax, res):
    protos = rng.normal(size=(D, F))
    P = rng.normal(size=(A, F)) / math.sqrt(F)
    # w | d ~ N(p_d, s2 I); desc = P w + N(0, 0.01 I): the posterior of w
    # given desc and d is Gaussian with a covariance shared by all d.
    S_desc = s2 * P @ P.T + 0.01 * np.eye(A)
    S_inv = np.linalg.inv(S_desc)
    K = s2 * P.T @ S_inv                      # gain [F, A]
    cov = s2 * np.eye(F) - K @ (s2 * P)       # posterior covariance of w
    L = np.linalg.cholesky(cov + 1e-12 * np.eye(F))
    _, logdet = np.linalg.slogdet(S_desc)
    for _ in range(episodes):
        d = rng.integers(D)
        w = protos[d] + a.spread * rng.normal(size=F)
        b = 0.5 * rng.normal()
        desc = P @ w + 0.1 * rng.normal(size=A)
        x = rng.normal(size=(kmax + a.queries, F))
        z = scale * x @ w + b
        y = (rng.uniform(size=len(z)) < click_prob(z)).astype(float)
        xs, ys = x[:kmax], y[:kmax]
        xq, yq, zq = x[kmax:], y[kmax:], z[kmax:]
        res["oracle"].append(auc(zq, yq))

        # Department posterior from the descriptor, then (w, b) samples.
        r = desc[None, :] - protos @ P.T                     # [D, A]
        logp = -0.5 * np.einsum("da,ab,db->d", r, S_inv, r) - 0.5 * logdet
        pd = np.exp(logp - logp.max())
        pd /= pd.sum()
        dep = rng.choice(D, size=a.samples, p=pd)
        mean = protos[dep] + r[dep] @ K.T                     # [M, F]
        ws = mean + rng.normal(size=(a.samples, F)) @ L.T
        bs = 0.5 * rng.normal(size=a.samples)
        zs_support = scale * xs @ ws.T + bs                   # [kmax, M]
        pq = click_prob(scale * xq @ ws.T + bs)               # [Q, M]
        for k in a.shots:
            if k == 0:
                logw = np.zeros(a.samples)
            else:
                p = np.clip(click_prob(zs_support[:k]), 1e-12, 1 - 1e-12)
                logw = (ys[:k, None] * np.log(p) + (1 - ys[:k, None]) * np.log(1 - p)).sum(0)
            wt = np.exp(logw - logw.max())
            wt /= wt.sum()
            res[f"bayes-{k}"].append(auc(pq @ wt, yq))


def report(res, a, F, A, D):
    """Means over episodes (an episode with one class only has no AUC) and
    95% intervals; the gain over 0 shots is paired per episode."""
    keep = ~np.isnan(np.array(res["oracle"]))
    col = {k: np.array(v)[keep] for k, v in res.items()}

    def mean_ci(v):
        return v.mean(), 1.96 * v.std(ddof=1) / math.sqrt(len(v))

    print(f"synthetic catalogue: feature_dim={F} descriptor_dim={A} departments={D} "
          f"spread={a.spread} label_noise={a.label_noise}; {len(col['oracle'])} categories "
          f"with both labels among their {a.queries} queries, over {a.catalogues} catalogues; "
          f"{a.samples} importance samples")
    o, oci = mean_ci(col["oracle"])
    print(f"{'scores':<9} {'cold AUC':>16}  {'gain over 0 shots':>18}  share of the gap closed")
    print(f"{'oracle':<9} {o:.4f} ± {oci:.4f}")
    b0 = col.get("bayes-0")
    for k in a.shots:
        m, ci = mean_ci(col[f"bayes-{k}"])
        line = f"{'bayes-' + str(k):<9} {m:.4f} ± {ci:.4f}"
        if b0 is not None and k > 0:
            g, gci = mean_ci(col[f"bayes-{k}"] - b0)
            line += f"  {g:+.4f} ± {gci:.4f}   {g / (o - b0.mean()):.2f}"
        print(line)


if __name__ == "__main__":
    main()
