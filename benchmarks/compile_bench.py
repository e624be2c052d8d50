"""micrograd's moons step through ``autograd.compile``, against hand-written numpy and PyTorch.

One step: forward over all samples (MLP 2-16-16-1 relu), loss ``mean(relu(1 - y * score)) +
alpha * sum(p * p)``, zero_grad, backward, SGD ``p.data -= lr * p.grad`` on the Values.

The graph is built ONCE, for one sample: ``loss_s = relu(1 - y * mlp(x)) + alpha * sum(p*p)``
with ``x1, x2, y`` as input leaves. Compiled, ``prog.backward(x1s, x2s, ys)`` (mean over the
samples) gives exactly micrograd's total loss ``mean(hinge) + alpha * sum(p*p)`` and its
gradient: the penalty depends on parameters only, so the compiled code computes it once per call
and its gradient enters once.

Run alone (prints the median step times and the ratios of one run)::

    .venv/bin/python -m benchmarks.compile_bench [--samples 100] [--repeat 15]

Measured on the 2-core development machine (medians of 31 interleaved rounds): compiled
0.167 ms/step, hand-written numpy 0.071 ms (ratio 2.34, target <= 2.5), PyTorch batched
0.379 ms (ratio 0.44, target <= 0.6). About half of the compiled step is Python touching the
339 parameter Values (reading .data, adding to .grad, the SGD loop).

``moons_step_compiled(problem)`` (alias ``moons_step``) is what the benchmark runner imports;
``problem`` is any object with ``xs`` (N x 2 floats), ``ys`` (N labels +-1), ``weights``
(``[(W, b)]`` per layer, ``W[j][i]``) and ``alpha``.
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autograd
from autograd import Value

__all__ = [
    "Problem",
    "build_moons_graph",
    "moons_step",
    "moons_step_compiled",
    "moons_step_numpy",
    "moons_step_torch",
]

Step = Callable[[int], float]
Weights = list[tuple[list[list[float]], list[float]]]


def learning_rate(k: int) -> float:
    """micrograd's demo schedule: 1.0 - 0.9 k / 100."""
    return 1.0 - 0.9 * k / 100


class Problem:
    """Moons data and micrograd's initial weights (U(-1, 1), zero biases), self-contained."""

    def __init__(self, n_samples: int = 100, seed: int = 1337, alpha: float = 1e-4) -> None:
        rng = random.Random(seed)
        n_out = n_samples // 2
        n_in = n_samples - n_out
        pts: list[list[float]] = []
        for i in range(n_out):
            t = math.pi * i / max(n_out - 1, 1)
            pts.append([math.cos(t), math.sin(t)])
        for i in range(n_in):
            t = math.pi * i / max(n_in - 1, 1)
            pts.append([1.0 - math.cos(t), 0.5 - math.sin(t)])
        labels = [-1.0] * n_out + [1.0] * n_in
        idx = list(range(n_samples))
        rng.shuffle(idx)
        self.xs = [[v + rng.gauss(0.0, 0.1) for v in pts[i]] for i in idx]
        self.ys = [labels[i] for i in idx]
        self.weights: Weights = []
        for nin, nout in zip((2, 16, 16), (16, 16, 1)):
            w = [[rng.uniform(-1.0, 1.0) for _ in range(nin)] for _ in range(nout)]
            self.weights.append((w, [0.0] * nout))
        self.alpha = alpha


def build_moons_graph(weights: Weights, alpha: float) -> tuple[Value, list[Value], list[Value]]:
    """The per-sample loss graph: (root, [x1, x2, y], parameters), neurons as fused dots."""
    x1, x2, y = Value(0.0, label="x1"), Value(0.0, label="x2"), Value(0.0, label="y")
    params: list[Value] = []
    h: list[Value] = [x1, x2]
    last = len(weights) - 1
    for li, (w, b) in enumerate(weights):
        out = []
        for j, (row, bj) in enumerate(zip(w, b)):
            ws = [Value(wi, label=f"w{li}_{j}_{i}") for i, wi in enumerate(row)]
            bv = Value(bj, label=f"b{li}_{j}")
            params += [*ws, bv]
            z = autograd.dot(ws, h, bv)
            z.label = f"z{li}_{j}"
            out.append(z.relu() if li != last else z)
        h = out
    score = h[0]
    score.label = "score"
    hinge = (1.0 - y * score).relu()
    hinge.label = "hinge"
    penalty = autograd.sum([p * p for p in params])
    penalty.label = "l2"
    loss = hinge + alpha * penalty
    loss.label = "loss"
    return loss, [x1, x2, y], params


def moons_step_compiled(problem: Any) -> Step:
    """Set up the compiled engine; returns ``step(k) -> loss`` (loss before the update)."""
    root, inputs, params = build_moons_graph(problem.weights, problem.alpha)
    prog = autograd.compile(root, inputs)
    xs = np.asarray(problem.xs, dtype=np.float64)
    cols = (xs[:, 0].copy(), xs[:, 1].copy(), np.asarray(problem.ys, dtype=np.float64))

    inv_n = 1.0 / len(cols[0])
    for p in params:
        p.grad = 0.0

    def step(k: int) -> float:
        losses = prog.backward(*cols)  # mean over samples: hinge mean + alpha * sum(p*p)
        lr = learning_rate(k)
        for p in params:  # SGD, then zero_grad for the next step, in one pass
            p.data -= lr * p.grad
            p.grad = 0.0
        return float(np.add.reduce(losses)) * inv_n

    return step


moons_step = moons_step_compiled


def moons_step_numpy(problem: Any) -> Step:
    """Hand-written numpy over the batch, backward derived by hand (the lower bound)."""
    ws = [np.array(w, dtype=np.float64) for w, _ in problem.weights]
    bs = [np.array(b, dtype=np.float64) for _, b in problem.weights]
    x0 = np.array(problem.xs, dtype=np.float64)
    y = np.array(problem.ys, dtype=np.float64)
    alpha = problem.alpha
    n = len(y)
    nl = len(ws)

    def step(k: int) -> float:
        acts = [x0]
        zs = []
        a = x0
        for li in range(nl):
            z = a @ ws[li].T + bs[li]
            zs.append(z)
            a = np.maximum(z, 0.0) if li != nl - 1 else z
            acts.append(a)
        h = 1.0 - y * a[:, 0]
        reg = float(sum((w * w).sum() + (b * b).sum() for w, b in zip(ws, bs)))
        total = float(np.maximum(h, 0.0).sum() / n + alpha * reg)
        delta = (np.where(h > 0.0, -y, 0.0) / n)[:, None]
        lr = learning_rate(k)
        for li in range(nl - 1, -1, -1):
            gw = delta.T @ acts[li]
            gb = delta.sum(axis=0)
            if li:
                delta = (delta @ ws[li]) * (zs[li - 1] > 0.0)
            ws[li] -= lr * (gw + 2.0 * alpha * ws[li])
            bs[li] -= lr * (gb + 2.0 * alpha * bs[li])
        return total

    return step


def moons_step_torch(problem: Any) -> Step:
    """PyTorch batched: nn.Linear float64 layers over the whole batch."""
    import torch

    mods: list[Any] = []
    for i, (w, b) in enumerate(problem.weights):
        lin = torch.nn.Linear(len(w[0]), len(w), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w, dtype=torch.float64))
            lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
        mods.append(lin)
        if i != len(problem.weights) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    params = list(model.parameters())
    x = torch.tensor(problem.xs, dtype=torch.float64)
    y = torch.tensor(problem.ys, dtype=torch.float64)
    alpha = problem.alpha

    def step(k: int) -> float:
        scores = model(x).squeeze(1)
        total = torch.relu(1 - y * scores).mean() + alpha * sum((p * p).sum() for p in params)
        model.zero_grad()
        total.backward()
        lr = learning_rate(k)
        with torch.no_grad():
            for p in params:
                p -= lr * p.grad
        return float(total.item())

    return step


def _median_ms(step: Step, number: int, rounds: int) -> list[float]:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        for k in range(number):
            step(k % 100)
        times.append((time.perf_counter() - t0) / number * 1e3)
    return times


def run(n_samples: int = 100, repeat: int = 15, number: int = 50) -> dict[str, float]:
    """Median ms per step of each engine, measured interleaved in one run."""
    engines: dict[str, Callable[[Any], Step]] = {
        "compiled": moons_step_compiled,
        "numpy": moons_step_numpy,
    }
    try:
        import torch  # noqa: F401

        engines["torch-batched"] = moons_step_torch
    except ImportError:
        pass
    # Same data and weights for all; check the first losses agree before timing anything.
    check = {name: make(Problem(n_samples)) for name, make in engines.items()}
    first = {name: [s(k) for k in range(3)] for name, s in check.items()}
    ref = first["numpy"]
    for name, got in first.items():
        if not np.allclose(got, ref, rtol=1e-9, atol=1e-12):
            raise RuntimeError(f"{name} losses {got} differ from numpy's {ref}")
    steps = {name: make(Problem(n_samples)) for name, make in engines.items()}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):  # interleave engines so that machine load hits all alike
        for name, s in steps.items():
            samples[name] += _median_ms(s, number, 1)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def report(res: dict[str, float], out: Sequence[str] = ()) -> str:
    lines = [f"{name:14s} {ms:8.3f} ms/step" for name, ms in res.items()]
    c = res["compiled"]
    lines.append(f"compiled / numpy          = {c / res['numpy']:.2f}  (target <= 2.5)")
    if "torch-batched" in res:
        lines.append(f"compiled / torch-batched  = {c / res['torch-batched']:.2f}  (target <= 0.6)")
    return "\n".join([*out, *lines])


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--samples", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=15, help="interleaved rounds")
    ap.add_argument("--number", type=int, default=50, help="steps per round")
    args = ap.parse_args(argv)
    res = run(args.samples, args.repeat, args.number)
    head = [f"moons step, {args.samples} samples, MLP 2-16-16-1 relu, hinge + 1e-4 L2, SGD"]
    print(report(res, head))


if __name__ == "__main__":
    main()
