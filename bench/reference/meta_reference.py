#!/usr/bin/env python3
"""PyTorch reference for metacat's benchmarks.

The same algorithms as people write them with PyTorch, in two
formulations (--impl):
  loop  a functional forward over a list of parameter tensors, one task at a
        time, torch.autograd.grad(create_graph=True) for second-order MAML;
  func  torch.func as a user would write it on torch 2.x: nn.Module models
        called through functional_call, the inner step by torch.func.grad,
        and every task of the meta-batch at once by vmap (ProtoNet's class
        means by a one-hot product, since boolean indexing does not vmap).
Both use torch.optim.Adam for the outer loop, and the same workloads and
hyperparameters as the metacat side of bench/perf.sh. Prints one JSON line.

  meta_reference.py --workload sinusoid|fmnist --learner maml|fomaml|protonet
                    [--impl loop|func] [--device cpu|cuda]
                    [--shots K] [--meta-batch B] [--steps N] [--threads T]
                    [--eval-episodes E]

With --eval-episodes, the trained parameters are then evaluated on E fresh
test tasks (sinusoid: new amplitudes and phases; Fashion-MNIST: classes 6-9),
adapting with the training inner loop, and the mean query metric (MSE or
accuracy) with its 95% confidence interval is added to the output.
"""
import argparse
import gzip
import json
import math
import os
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F

FMNIST = "/usr/share/datasets/fashion-mnist"


def init_linear(fan_in, fan_out):
    # PyTorch's nn.Linear default: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for both.
    layer = torch.nn.Linear(fan_in, fan_out)
    return [layer.weight.detach().clone().requires_grad_(), layer.bias.detach().clone().requires_grad_()]


def mlp_init(sizes):
    params = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        params += init_linear(a, b)
    return params


def mlp_forward(params, x):
    for i in range(0, len(params) - 2, 2):
        x = F.relu(F.linear(x, params[i], params[i + 1]))
    return F.linear(x, params[-2], params[-1])


def conv4_init(width, ways, init="pytorch"):
    """pytorch: nn.Conv2d/nn.Linear defaults, batch-norm scale 1 (metacat's).
    xavier: Glorot-uniform weights and zero biases (the MAML papers' Conv-4);
    xavier-bnu: the same with batch-norm scales drawn from U(0, 1)."""
    params, cin = [], 1
    for _ in range(4):
        conv = torch.nn.Conv2d(cin, width, 3, padding=1)
        w, b = conv.weight.detach().clone(), conv.bias.detach().clone()
        g = torch.ones(width)
        if init != "pytorch":
            torch.nn.init.xavier_uniform_(w)
            b.zero_()
        if init == "xavier-bnu":
            g.uniform_(0, 1)
        params += [w.requires_grad_(), b.requires_grad_(), g.requires_grad_(),
                   torch.zeros(width, requires_grad=True)]
        cin = width
    head = init_linear(width, ways)
    if init != "pytorch":
        with torch.no_grad():
            torch.nn.init.xavier_uniform_(head[0])
            head[1].zero_()
    return params + head


def conv4_features(params, x):
    for b in range(4):
        w, bias, g, beta = params[4 * b: 4 * b + 4]
        x = F.conv2d(x, w, bias, padding=1)
        x = F.batch_norm(x, None, None, g, beta, training=True)
        x = F.max_pool2d(F.relu(x), 2)
    return x.flatten(1)


def conv4_forward(params, x):
    return F.linear(conv4_features(params, x), params[-2], params[-1])


def load_fmnist(classes):
    def idx(name):
        with gzip.open(os.path.join(FMNIST, name), "rb") as f:
            data = f.read()
        ndim = data[3]
        dims = [int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim)]
        return np.frombuffer(data, np.uint8, offset=4 + 4 * ndim).reshape(dims)
    x = np.concatenate([idx("train-images-idx3-ubyte.gz"), idx("t10k-images-idx3-ubyte.gz")])
    y = np.concatenate([idx("train-labels-idx1-ubyte.gz"), idx("t10k-labels-idx1-ubyte.gz")])
    return {c: torch.from_numpy(x[y == c].copy()).float().div_(255).unsqueeze(1) for c in classes}


def fmnist_episode(data, classes, ways, shots, queries, rng):
    chosen = rng.choice(classes, ways, replace=False)
    xs, ys, xq, yq = [], [], [], []
    for j, c in enumerate(chosen):
        items = data[c]
        pick = torch.from_numpy(rng.choice(len(items), shots + queries, replace=False))
        xs.append(items[pick[:shots]]), xq.append(items[pick[shots:]])
        ys += [j] * shots
        yq += [j] * queries
    return torch.cat(xs), torch.tensor(ys), torch.cat(xq), torch.tensor(yq)


def sinusoid_episode(shots, queries, rng):
    amp, phase = rng.uniform(0.1, 5.0), rng.uniform(0, math.pi)
    x = rng.uniform(-5, 5, (shots + queries, 1)).astype(np.float32)
    y = (amp * np.sin(x - phase)).astype(np.float32)
    x, y = torch.from_numpy(x), torch.from_numpy(y)  # [n, 1], as the model outputs
    return x[:shots], y[:shots], x[shots:], y[shots:]


def adapt(params, forward, loss_fn, xs, ys, lr, steps, create_graph):
    fast = params
    for _ in range(steps):
        loss = loss_fn(forward(fast, xs), ys)
        grads = torch.autograd.grad(loss, fast, create_graph=create_graph)
        fast = [p - lr * g for p, g in zip(fast, grads)]
    return fast


def protonet_logits(params, xs, ys, xq, ways):
    f = conv4_features(params, torch.cat([xs, xq]))
    fs, fq = f[: len(xs)], f[len(xs):]
    protos = torch.stack([fs[ys == c].mean(0) for c in range(ways)])
    return -((fq.unsqueeze(1) - protos.unsqueeze(0)) ** 2).sum(2)


def evaluate(a, params, forward, loss_fn, data, steps=1):
    """Mean query metric after `steps` adaptation steps on fresh tasks of the
    evaluation classes (--eval-classes), with its 95% CI."""
    rng = np.random.default_rng(a.seed + 1000)
    queries = a.eval_queries or a.queries
    values = []
    for _ in range(a.eval_episodes):
        if data is None:
            xs, ys, xq, yq = sinusoid_episode(a.shots, queries, rng)
        else:
            xs, ys, xq, yq = fmnist_episode(data, a.eval_classes, a.ways, a.shots, queries, rng)
        if a.learner == "protonet":
            with torch.no_grad():
                out = protonet_logits(params, xs, ys, xq, a.ways)
        else:
            fast = adapt(params, forward, loss_fn, xs, ys, a.inner_lr, steps, False)
            with torch.no_grad():
                out = forward(fast, xq)
        if data is None:
            values.append(F.mse_loss(out, yq).item())
        else:
            values.append((out.argmax(1) == yq).float().mean().item())
    v = np.array(values)
    return {"eval_metric": "mse" if data is None else "accuracy", "eval_episodes": len(v),
            "eval_mean": round(float(v.mean()), 4),
            "eval_ci95": round(float(1.96 * v.std(ddof=1) / math.sqrt(len(v))), 4)}


class Conv4(torch.nn.Module):
    """conv4 as an nn.Module (layer defaults, batch norm on the batch's own
    statistics as in metacat); head=None: the features only (ProtoNet)."""

    def __init__(self, width, ways):
        super().__init__()
        layers, cin = [], 1
        for _ in range(4):
            layers += [torch.nn.Conv2d(cin, width, 3, padding=1),
                       torch.nn.BatchNorm2d(width, track_running_stats=False),
                       torch.nn.ReLU(), torch.nn.MaxPool2d(2)]
            cin = width
        self.features = torch.nn.Sequential(*layers, torch.nn.Flatten())
        self.head = torch.nn.Linear(width, ways) if ways else None

    def forward(self, x):
        f = self.features(x)
        return self.head(f) if self.head is not None else f


def func_trainer(a, episode, device):
    """One meta-step over a.meta_batch tasks with torch.func: returns a
    closure doing it and the parameters it trains."""
    from torch.func import functional_call, grad, vmap
    if a.workload == "sinusoid":
        model = torch.nn.Sequential(torch.nn.Linear(1, 40), torch.nn.ReLU(), torch.nn.Linear(40, 40),
                                    torch.nn.ReLU(), torch.nn.Linear(40, 1))
        loss_fn = F.mse_loss
    else:
        model = Conv4(a.width, 0 if a.learner == "protonet" else a.ways)
        loss_fn = F.cross_entropy
    model.to(device)
    params = {k: v.detach().requires_grad_() for k, v in model.named_parameters()}

    def task_loss(p, xs, ys, xq, yq):
        if a.learner == "protonet":
            f = functional_call(model, p, (torch.cat([xs, xq]),))
            fs, fq = f[: xs.shape[0]], f[xs.shape[0]:]
            onehot = F.one_hot(ys, a.ways).to(fs.dtype)
            protos = onehot.t() @ fs / onehot.sum(0).unsqueeze(1)
            return F.cross_entropy(-((fq.unsqueeze(1) - protos.unsqueeze(0)) ** 2).sum(2), yq)
        g = grad(lambda q: loss_fn(functional_call(model, q, (xs,)), ys))(p)
        if a.learner == "fomaml":
            g = {k: v.detach() for k, v in g.items()}
        fast = {k: p[k] - a.inner_lr * g[k] for k in p}
        return loss_fn(functional_call(model, fast, (xq,)), yq)

    def meta_loss(p, batch):
        return vmap(task_loss, in_dims=(None, 0, 0, 0, 0))(p, *batch).mean()

    meta_grad = grad(meta_loss)
    opt = torch.optim.Adam(params.values(), lr=1e-3)

    def step():
        tasks = [episode() for _ in range(a.meta_batch)]
        batch = [torch.stack(t).to(device, non_blocking=True) for t in zip(*tasks)]
        g = meta_grad(params, batch)
        for k, v in params.items():
            v.grad = g[k]
        opt.step()
        return float("nan")  # the loss is not computed separately

    return step, list(params.values())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--workload", choices=["sinusoid", "fmnist"], required=True)
    ap.add_argument("--learner", choices=["maml", "fomaml", "protonet"], required=True)
    ap.add_argument("--shots", type=int, default=10)
    ap.add_argument("--queries", type=int, default=10)
    ap.add_argument("--ways", type=int, default=3)
    ap.add_argument("--meta-batch", type=int, default=25)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--width", type=int, default=32)
    ap.add_argument("--inner-lr", type=float, default=0.01)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-episodes", type=int, default=0)
    ap.add_argument("--eval-queries", type=int, default=0, help="query items at evaluation (0 = --queries)")
    ap.add_argument("--init", choices=["pytorch", "xavier", "xavier-bnu"], default="pytorch",
                    help="conv4 initialisation (see conv4_init)")
    ap.add_argument("--eval-steps", type=str, default="1",
                    help="test-time inner steps, comma-separated: one evaluation each (eval_<k>_*)")
    ap.add_argument("--eval-classes", type=str, default="6,7,8,9",
                    help="Fashion-MNIST classes evaluated (default the cold-start 6-9)")
    ap.add_argument("--impl", choices=["loop", "func"], default="loop",
                    help="loop: one task at a time; func: torch.func with vmap over tasks")
    ap.add_argument("--device", choices=["cpu", "cuda"], default="cpu")
    a = ap.parse_args()
    if a.impl == "func" and a.eval_episodes > 0:
        ap.error("--eval-episodes is implemented for --impl loop only")
    a.eval_classes = [int(c) for c in a.eval_classes.split(",")]
    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    rng = np.random.default_rng(a.seed)

    if a.workload == "sinusoid":
        params = mlp_init([1, 40, 40, 1])
        forward, loss_fn = mlp_forward, F.mse_loss
        episode = lambda: sinusoid_episode(a.shots, a.queries, rng)
    else:
        classes = [0, 1, 2, 3, 4, 5]
        data = load_fmnist(sorted(set(classes + (a.eval_classes if a.eval_episodes > 0 else []))))
        params = conv4_init(a.width, a.ways, a.init)
        if a.learner == "protonet":
            params = params[:-2]
        forward, loss_fn = conv4_forward, F.cross_entropy
        episode = lambda: fmnist_episode(data, classes, a.ways, a.shots, a.queries, rng)
    opt = torch.optim.Adam(params, lr=1e-3)
    device = torch.device(a.device)
    if a.device == "cuda":
        if a.impl != "func":
            ap.error("--device cuda is implemented for --impl func")
        torch.backends.cudnn.benchmark = True

    def step():
        opt.zero_grad()
        total = 0.0
        for _ in range(a.meta_batch):
            xs, ys, xq, yq = episode()
            if a.learner == "protonet":
                loss = F.cross_entropy(protonet_logits(params, xs, ys, xq, a.ways), yq)
            else:
                fast = adapt(params, forward, loss_fn, xs, ys, a.inner_lr, 1, a.learner == "maml")
                loss = loss_fn(forward(fast, xq), yq)
            (loss / a.meta_batch).backward()
            total += loss.item()
        opt.step()
        return total / a.meta_batch

    if a.impl == "func":
        step, params = func_trainer(a, episode, device)

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    for _ in range(a.warmup):
        step()
    sync()
    t0 = time.perf_counter()
    loss = 0.0
    for _ in range(a.steps):
        loss = step()
    sync()
    seconds = time.perf_counter() - t0
    result = {}
    if a.eval_episodes > 0:
        ks = [int(k) for k in a.eval_steps.split(",")]
        for k in ks:
            r = evaluate(a, params, forward, loss_fn, data if a.workload == "fmnist" else None, k)
            # One step keeps the original keys; more get eval_<k>_mean etc.
            result.update(r if k == ks[0] and len(ks) == 1 else
                          {key.replace("eval_", "eval_%d_" % k, 1): v for key, v in r.items()})
    print(json.dumps({
        "impl": "pytorch-" + a.impl, "device": a.device, "torch": torch.__version__, "workload": a.workload, "learner": a.learner,
        "shots": a.shots, "meta_batch": a.meta_batch, "threads": a.threads, "steps": a.steps,
        "tasks_per_s": round(a.steps * a.meta_batch / seconds, 2),
        "last_meta_loss": None if math.isnan(loss) else round(loss, 4),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1), **result}))


if __name__ == "__main__":
    main()
