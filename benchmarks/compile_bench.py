"""micrograd's moons step through ``autograd.compile``, against hand-written numpy and PyTorch.

One step: forward over all samples (MLP 2-16-16-1 relu), loss ``mean(relu(1 - y * score)) +
alpha * sum(p * p)``, its gradient, and SGD on the parameter Values. Two ways to write it:

* ``moons_step_compiled`` (engine ``deltagrad-compiled``): ``P = prog.parameter_vector()``,
  ``prog.value_and_grad(...)``, ``prog.set_parameter_vector(P - lr * g)``: the Values are read
  and written every step, the update is one numpy expression and no ``.grad`` is touched;
* ``moons_step_compiled_grad`` (``deltagrad-compiled-grad``): micrograd's shape, ``backward``
  adding into each ``.grad``, then ``p.data -= lr * p.grad`` and ``p.grad = 0.0`` per Value.

The graph is built ONCE, for one sample: ``loss_s = relu(1 - y * mlp(x)) + alpha * sum(p*p)``
with ``x1, x2, y`` as input leaves. Compiled, ``prog.backward(x1s, x2s, ys)`` (mean over the
samples) gives exactly micrograd's total loss ``mean(hinge) + alpha * sum(p*p)`` and its
gradient: the penalty depends on parameters only, so the compiled code computes it once per call
and its gradient enters once.

Run alone (prints the median step times and the ratios of one run)::

    .venv/bin/python -m benchmarks.compile_bench [--samples 100] [--repeat 15]

Measured: see the moons tables in ``benchmarks/README.md`` (``python -m benchmarks
--workload moons`` runs both steps beside numpy and PyTorch, one process per engine). The
numpy and PyTorch steps are the benchmark runner's own (``benchmarks.moons``), on the same
data and weights (``benchmarks.data``).

``moons_step_compiled(problem)`` (alias ``moons_step``) is what the benchmark runner imports;
``problem`` is any object with ``xs`` (N x 2 floats), ``ys`` (N labels +-1), ``weights``
(``[(W, b)]`` per layer, ``W[j][i]``) and ``alpha``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import autograd
from autograd import Value

from .data import MoonsProblem, learning_rate
from .moons import setup_numpy, setup_torch_batched

__all__ = ["build_moons_graph", "moons_step", "moons_step_compiled"]

Step = Callable[[int], float]
Weights = list[tuple[list[list[float]], list[float]]]


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


def _compiled(problem: Any) -> tuple[Any, list[Value], tuple[Any, ...], float]:
    root, inputs, params = build_moons_graph(problem.weights, problem.alpha)
    prog = autograd.compile(root, inputs)
    xs = np.asarray(problem.xs, dtype=np.float64)
    cols = (xs[:, 0].copy(), xs[:, 1].copy(), np.asarray(problem.ys, dtype=np.float64))
    return prog, params, cols, 1.0 / len(cols[0])


def moons_step_compiled(problem: Any) -> Step:
    """Set up the compiled engine; returns ``step(k) -> loss`` (loss before the update):
    the gradient as one vector, SGD as one numpy expression, the Values written back."""
    prog, _, cols, inv_n = _compiled(problem)

    def step(k: int) -> float:
        P = prog.parameter_vector()
        losses, g = prog.value_and_grad(*cols, params=P)  # mean: hinge + alpha * sum(p*p)
        prog.set_parameter_vector(P - learning_rate(k) * g)
        return float(np.add.reduce(losses)) * inv_n

    return step


def moons_step_compiled_grad(problem: Any) -> Step:
    """As :func:`moons_step_compiled`, written on the Values: ``backward`` adds into each
    ``.grad``, then ``p.data -= lr * p.grad`` and ``p.grad = 0.0`` parameter by parameter."""
    prog, params, cols, inv_n = _compiled(problem)
    for p in params:
        p.grad = 0.0

    def step(k: int) -> float:
        losses = prog.backward(*cols)
        lr = learning_rate(k)
        for p in params:  # SGD, then zero_grad for the next step, in one pass
            p.data -= lr * p.grad
            p.grad = 0.0
        return float(np.add.reduce(losses)) * inv_n

    return step


moons_step = moons_step_compiled


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
        "compiled-grad": moons_step_compiled_grad,
        "numpy": setup_numpy,
    }
    try:
        import torch  # noqa: F401

        engines["torch-batched"] = setup_torch_batched
    except ImportError:
        pass
    # Same data and weights for all; check the first losses agree before timing anything.
    check = {name: make(MoonsProblem(n_samples)) for name, make in engines.items()}
    first = {name: [s(k) for k in range(3)] for name, s in check.items()}
    ref = first["numpy"]
    for name, got in first.items():
        if not np.allclose(got, ref, rtol=1e-9, atol=1e-12):
            raise RuntimeError(f"{name} losses {got} differ from numpy's {ref}")
    steps = {name: make(MoonsProblem(n_samples)) for name, make in engines.items()}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeat):  # interleave engines so that machine load hits all alike
        for name, s in steps.items():
            samples[name] += _median_ms(s, number, 1)
    return {name: statistics.median(ts) for name, ts in samples.items()}


def report(res: dict[str, float], out: Sequence[str] = ()) -> str:
    lines = [f"{name:14s} {ms:8.3f} ms/step" for name, ms in res.items()]
    c = res["compiled"]
    lines.append(f"compiled / numpy          = {c / res['numpy']:.2f}  (target <= 1.5)")
    lines.append(f"compiled-grad / numpy     = {res['compiled-grad'] / res['numpy']:.2f}")
    if "torch-batched" in res:
        lines.append(f"compiled / torch-batched  = {c / res['torch-batched']:.2f}  (target <= 0.3)")
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
