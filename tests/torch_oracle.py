"""PyTorch float64 counterparts of the op table's rows: the oracle side of the op tests.

Each entry maps an op name to ``f(torch, *tensors) -> tensor`` built from PyTorch's own
functions. A built-in op missing here fails ``test_every_builtin_op_has_a_torch_oracle``, so
a new row of the table cannot skip the oracle silently.
"""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

Tensor = Any
Oracle = Callable[..., Tensor]


def _leaky_relu(t: ModuleType, x: Tensor, slope: Tensor) -> Tensor:
    # F.leaky_relu takes the slope as a plain number (no gradient to it). Its rule is
    # `x if x > 0 else x * slope`; taking that branch in Python lets autograd also give
    # d/dslope = x on the negative side. test_ops_table checks it against F.leaky_relu.
    if x.item() > 0:
        # A node of its own (so its .grad is its own gradient), on the graph even when only
        # the slope requires grad (d/dslope = 0 there).
        return x.clone() if x.requires_grad else x + 0.0 * slope
    return x * slope


def _sum(t: ModuleType, *xs: Tensor) -> Tensor:
    # Left to right, as the table defines x_1 + ... + x_n: torch.sum may associate
    # differently, and one rounding apart is a different branch of a relu fed by a sum
    # that cancels to ~0 (hypothesis found 1 + 1 - 1 - 1 + 1e-119: ours 1e-119, torch.sum 0).
    total = xs[0].clone()  # a node of its own, even for one input
    for x in xs[1:]:
        total = total + x
    return total


def _dot(t: ModuleType, *v: Tensor) -> Tensor:
    # sum_i w_i x_i [+ b], accumulated left to right like _sum (not torch.dot, see there).
    n = len(v) // 2
    terms = [w * x for w, x in zip(v[:n], v[n : 2 * n])]
    if len(v) % 2:
        terms.append(v[2 * n])
    return _sum(t, *terms)


TORCH_ORACLE: dict[str, Oracle] = {
    "add": lambda t, a, b: t.add(a, b),
    "sub": lambda t, a, b: t.sub(a, b),
    "mul": lambda t, a, b: t.mul(a, b),
    "div": lambda t, a, b: t.div(a, b),
    "neg": lambda t, a: t.neg(a),
    "pow": lambda t, a, b: t.pow(a, b),
    "exp": lambda t, x: t.exp(x),
    "log": lambda t, x: t.log(x),
    "tanh": lambda t, x: t.tanh(x),
    "sigmoid": lambda t, x: t.sigmoid(x),
    "relu": lambda t, x: t.relu(x),
    "leaky_relu": _leaky_relu,
    "sqrt": lambda t, x: t.sqrt(x),
    "abs": lambda t, x: t.abs(x),
    "sin": lambda t, x: t.sin(x),
    "cos": lambda t, x: t.cos(x),
    "sum": _sum,
    "dot": _dot,
}


def torch_oracle(name: str) -> Oracle:
    """The PyTorch function for op ``name``; fails loudly when there is none."""
    try:
        return TORCH_ORACLE[name]
    except KeyError:
        raise AssertionError(
            f"op {name!r} has no PyTorch oracle: add it to tests/torch_oracle.py TORCH_ORACLE"
        ) from None
