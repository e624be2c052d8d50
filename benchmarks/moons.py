"""micrograd's moons training step, once per engine.

One step is what micrograd's demo does per iteration: the forward pass over all 100 points
(MLP 2-16-16-1, relu), the loss ``mean(relu(1 - y * score)) + alpha * sum(p * p)``,
``zero_grad``, ``backward`` and the SGD update ``p -= lr * grad`` with micrograd's schedule.
Each ``setup_<engine>(problem)`` returns ``step(k) -> loss`` (the loss before the update, as a
float). Engines import their library lazily so that a worker process loads only its own.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from .data import MoonsProblem, learning_rate

__all__ = ["ENGINES", "setup"]

Step = Callable[[int], float]


# ---------------------------------------------------------------------------------------------
# micrograd's own graph: binary + and * nodes, built from a Value class's operators alone.


class _OpNeuron:
    """micrograd's Neuron over any Value class: act = sum((w_i * x_i ...), b)."""

    def __init__(self, value: Any, w: Sequence[float], b: float, nonlin: bool) -> None:
        self.w = [value(wi) for wi in w]
        self.b = value(b)
        self.nonlin = nonlin

    def __call__(self, x: Sequence[Any]) -> Any:
        act = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return act.relu() if self.nonlin else act

    def parameters(self) -> list[Any]:
        return [*self.w, self.b]


class _OpMLP:
    def __init__(self, value: Any, weights: Any) -> None:
        last = len(weights) - 1
        self.layers = [
            [_OpNeuron(value, w, b, i != last) for w, b in zip(ws, bs)]
            for i, (ws, bs) in enumerate(weights)
        ]

    def __call__(self, x: Sequence[Any]) -> Any:
        for layer in self.layers:
            out = [n(x) for n in layer]
            x = out
        return x[0]

    def parameters(self) -> list[Any]:
        return [p for layer in self.layers for n in layer for p in n.parameters()]


def _sgd(total: Any, params: Sequence[Any], k: int) -> float:
    """Backward from ``total`` and micrograd's SGD step on ``params`` (grads already zeroed),
    for the engines whose Values have ``.data``/``.grad`` floats (micrograd's and ours)."""
    total.backward()
    lr = learning_rate(k)
    for p in params:
        p.data -= lr * p.grad
    return float(total.data)


def _notebook_loss(value: Any, model: Any, params: Sequence[Any], prob: MoonsProblem) -> Any:
    """micrograd's demo loss, written exactly as its notebook: mean hinge + alpha * sum p^2."""
    inputs = [list(map(value, xrow)) for xrow in prob.xs]
    scores = list(map(model, inputs))
    losses = [(1 + -yi * scorei).relu() for yi, scorei in zip(prob.ys, scores)]
    data_loss = sum(losses) * (1.0 / len(losses))
    reg_loss = prob.alpha * sum(p * p for p in params)
    return data_loss + reg_loss


def _operator_step(value: Any, model: Any, prob: MoonsProblem) -> Step:
    """The demo's loss function and update, written exactly as micrograd's notebook."""
    params = model.parameters()

    def step(k: int) -> float:
        total = _notebook_loss(value, model, params, prob)
        for p in params:
            p.grad = 0.0
        return _sgd(total, params, k)

    return step


def setup_micrograd(prob: MoonsProblem) -> Step:
    from micrograd import nn as mnn
    from micrograd.engine import Value as MValue

    model = mnn.MLP(2, [16, 16, 1])
    params = model.parameters()
    flat = [v for w, b in prob.weights for row, bj in zip(w, b) for v in (*row, bj)]
    for p, v in zip(params, flat, strict=True):
        p.data = v
    return _operator_step(MValue, model, prob)


def setup_deltagrad_exact(prob: MoonsProblem) -> Step:
    from autograd import Value

    return _operator_step(Value, _OpMLP(Value, prob.weights), prob)


# ---------------------------------------------------------------------------------------------
# deltagrad with fused dot neurons: nn.MLP when it exists, else the same network by hand.


class _DotMLP:
    """A stand-in for nn.MLP from autograd's public API: z = dot(w, x, b), relu, linear out."""

    def __init__(self, weights: Any) -> None:
        from autograd import Value

        self.layers = [
            [([Value(wi) for wi in row], Value(bj)) for row, bj in zip(w, b)] for w, b in weights
        ]

    def __call__(self, x: Sequence[Any]) -> Any:
        from autograd import dot

        last = len(self.layers) - 1
        for i, layer in enumerate(self.layers):
            zs = [dot(w, x, b) for w, b in layer]
            x = [z.relu() for z in zs] if i != last else zs
        return x[0]

    def parameters(self) -> list[Any]:
        return [p for layer in self.layers for w, b in layer for p in (*w, b)]

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0


def _fused_model(prob: MoonsProblem) -> Any:
    try:
        import nn
    except ImportError:
        nn = None
    if nn is not None and hasattr(nn, "MLP"):
        model = nn.MLP(2, [16, 16, 1], activation="relu", output_activation="linear", seed=0)
        flat = [v for w, b in prob.weights for row, bj in zip(w, b) for v in (*row, bj)]
        params = model.parameters()
        if len(params) != len(flat):
            raise RuntimeError(f"nn.MLP has {len(params)} parameters, expected {len(flat)}")
        for p, v in zip(params, flat):
            p.data = v  # micrograd's order: per layer, per neuron, weights then bias
        return model
    return _DotMLP(prob.weights)


def fused_model_name() -> str:
    try:
        import nn
    except ImportError:
        return "local dot MLP"
    return "nn.MLP" if hasattr(nn, "MLP") else "local dot MLP"


def setup_deltagrad(prob: MoonsProblem) -> Step:
    import autograd

    model = _fused_model(prob)
    params = model.parameters()
    xs, ys, alpha = prob.xs, prob.ys, prob.alpha
    inv_n = 1.0 / len(xs)

    def step(k: int) -> float:
        scores = [model(x) for x in xs]
        losses = [(1.0 - yi * s).relu() for yi, s in zip(ys, scores)]
        total = autograd.sum(losses) * inv_n + alpha * autograd.dot(params, params)
        model.zero_grad()
        return _sgd(total, params, k)

    return step


# ---------------------------------------------------------------------------------------------
# deltagrad compiled (benchmarks/compile_bench.py, written with autograd.compile)


def setup_deltagrad_compiled(prob: MoonsProblem) -> Step:
    from .compile_bench import moons_step_compiled  # imported here: it imports this module

    return moons_step_compiled(prob)


def setup_deltagrad_compiled_grad(prob: MoonsProblem) -> Step:
    from .compile_bench import moons_step_compiled_grad

    return moons_step_compiled_grad(prob)


# ---------------------------------------------------------------------------------------------
# PyTorch


def _torch_sgd(torch: Any, total: Any, params: Sequence[Any], k: int) -> float:
    """Backward from ``total`` and one SGD step on ``params`` (grads already zeroed)."""
    total.backward()
    lr = learning_rate(k)
    with torch.no_grad():
        for p in params:
            p -= lr * p.grad
    return float(total.item())


def setup_torch_scalar(prob: MoonsProblem) -> Step:
    """micrograd's graph with 0-d float64 tensors in place of Values."""
    import torch

    def value(x: float) -> Any:
        return torch.tensor(float(x), dtype=torch.float64)

    layers = []
    for w, b in prob.weights:
        layers.append(
            [
                (
                    [torch.tensor(wi, dtype=torch.float64, requires_grad=True) for wi in row],
                    torch.tensor(bj, dtype=torch.float64, requires_grad=True),
                )
                for row, bj in zip(w, b)
            ]
        )
    params = [p for layer in layers for w, b in layer for p in (*w, b)]
    last = len(layers) - 1

    def model(x: list[Any]) -> Any:
        for i, layer in enumerate(layers):
            out = []
            for w, b in layer:
                act = sum((wi * xi for wi, xi in zip(w, x)), b)
                out.append(act.relu() if i != last else act)
            x = out
        return x[0]

    def step(k: int) -> float:
        total = _notebook_loss(value, model, params, prob)
        for p in params:
            p.grad = None
        return _torch_sgd(torch, total, params, k)

    return step


def setup_torch_batched(prob: MoonsProblem) -> Step:
    """nn.Linear layers in float64 over the whole batch."""
    import torch

    mods: list[Any] = []
    for i, (w, b) in enumerate(prob.weights):
        lin = torch.nn.Linear(len(w[0]), len(w), dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.tensor(w, dtype=torch.float64))
            lin.bias.copy_(torch.tensor(b, dtype=torch.float64))
        mods.append(lin)
        if i != len(prob.weights) - 1:
            mods.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*mods)
    params = list(model.parameters())
    x = torch.tensor(prob.xs, dtype=torch.float64)
    y = torch.tensor(prob.ys, dtype=torch.float64)
    alpha = prob.alpha

    def step(k: int) -> float:
        scores = model(x).squeeze(1)
        total = torch.relu(1 - y * scores).mean() + alpha * sum((p * p).sum() for p in params)
        model.zero_grad()
        return _torch_sgd(torch, total, params, k)

    return step


# ---------------------------------------------------------------------------------------------
# Lower bounds: hand-written forward and hand-derived backward.


def setup_python(prob: MoonsProblem) -> Step:
    """Pure Python lists; the backward pass derived by hand (no graph at all)."""
    ws = [[list(row) for row in w] for w, _ in prob.weights]
    bs = [list(b) for _, b in prob.weights]
    xs, ys, alpha = prob.xs, prob.ys, prob.alpha
    n = len(xs)
    nl = len(ws)

    def step(k: int) -> float:
        gw = [[[0.0] * len(row) for row in w] for w in ws]
        gb = [[0.0] * len(b) for b in bs]
        data = 0.0
        for x, y in zip(xs, ys):
            acts = [x]
            zs = []
            a = x
            for li in range(nl):
                z = [sum(wi * ai for wi, ai in zip(row, a)) + bj for row, bj in zip(ws[li], bs[li])]
                zs.append(z)
                a = [v if v > 0.0 else 0.0 for v in z] if li != nl - 1 else z
                acts.append(a)
            s = a[0]
            h = 1.0 - y * s
            if h > 0.0:
                data += h
                delta = [-y / n]  # dL/ds
                for li in range(nl - 1, -1, -1):
                    a_in = acts[li]
                    for j, dj in enumerate(delta):
                        if dj != 0.0:
                            grow = gw[li][j]
                            for i, ai in enumerate(a_in):
                                grow[i] += dj * ai
                            gb[li][j] += dj
                    if li:
                        w = ws[li]
                        zp = zs[li - 1]
                        delta = [
                            sum(delta[j] * w[j][i] for j in range(len(delta)))
                            if zp[i] > 0.0
                            else 0.0
                            for i in range(len(a_in))
                        ]
        reg = 0.0
        for w, b in zip(ws, bs):
            for row in w:
                for v in row:
                    reg += v * v
            for v in b:
                reg += v * v
        total = data / n + alpha * reg
        lr = learning_rate(k)
        for li in range(nl):
            for row, grow in zip(ws[li], gw[li]):
                for i in range(len(row)):
                    row[i] -= lr * (grow[i] + 2.0 * alpha * row[i])
            b = bs[li]
            for j in range(len(b)):
                b[j] -= lr * (gb[li][j] + 2.0 * alpha * b[j])
        return total

    return step


def setup_numpy(prob: MoonsProblem) -> Step:
    """numpy over the whole batch; the backward pass derived by hand."""
    import numpy as np

    ws = [np.array(w, dtype=np.float64) for w, _ in prob.weights]
    bs = [np.array(b, dtype=np.float64) for _, b in prob.weights]
    x0 = np.array(prob.xs, dtype=np.float64)
    y = np.array(prob.ys, dtype=np.float64)
    alpha = prob.alpha
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
        s = a[:, 0]
        h = 1.0 - y * s
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


#: engine name -> (setup, one-line description)
ENGINES: dict[str, tuple[Callable[[MoonsProblem], Step], str]] = {
    "deltagrad": (setup_deltagrad, "deltagrad, fused dot neurons"),
    "deltagrad-exact": (setup_deltagrad_exact, "deltagrad, micrograd's graph (+ and * nodes)"),
    "deltagrad-compiled": (
        setup_deltagrad_compiled,
        "deltagrad compiled: value_and_grad, SGD on the parameter vector",
    ),
    "deltagrad-compiled-grad": (
        setup_deltagrad_compiled_grad,
        "deltagrad compiled: backward into .grad, SGD Value by Value",
    ),
    "micrograd": (setup_micrograd, "micrograd 0.1.0"),
    "torch-scalar": (setup_torch_scalar, "PyTorch, 0-d float64 tensors, micrograd's graph"),
    "torch-batched": (setup_torch_batched, "PyTorch, nn.Linear float64, whole batch"),
    "python": (setup_python, "hand-written pure Python (hand-derived backward)"),
    "numpy": (setup_numpy, "hand-written numpy (hand-derived backward)"),
}


def setup(engine: str, prob: MoonsProblem) -> Step:
    return ENGINES[engine][0](prob)
