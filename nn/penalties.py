"""Weight sums and L1/L2 penalties (differentiable), and weight statistics (plain floats).

The seed articles' formulas, each one ``sum`` node in the graph:

* ``weight_sum``  = Σ w            d/dw = 1
* ``l1_penalty``  = λ Σ |w|        d/dw = λ sign(w)   (0 at w = 0)
* ``l2_penalty``  = λ Σ w²         d/dw = 2 λ w

Biases are left out unless ``include_bias=True`` (the articles sum the weight matrices, and
penalising biases is not common practice). Each function takes a :class:`~nn.Module` or any
iterable of Values; an iterable is used as given (``include_bias`` only filters modules).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import autograd
from autograd import Value

from ._validate import nonnegative
from .module import Module

__all__ = ["l1_penalty", "l2_penalty", "weight_stats", "weight_sum"]


def _values(m: Module | Iterable[Value], include_bias: bool, who: str) -> list[Value]:
    if isinstance(m, Module):
        return m.parameters() if include_bias else m.weights()
    if isinstance(m, Value):
        return [m]
    try:
        vs = list(m)
    except TypeError:
        raise TypeError(
            f"{who}: expected a Module or an iterable of Values, got {type(m).__name__}"
        ) from None
    for i, v in enumerate(vs):
        if not isinstance(v, Value):
            raise TypeError(f"{who}: item {i} is not a Value: {type(v).__name__}: {v!r}")
    return vs


def weight_sum(m: Module | Iterable[Value], include_bias: bool = False) -> Value:
    """Σ w over the weights of ``m``: one ``sum`` node; d/dw = 1.

    Args:
        m: A Module, or an iterable of Values (all of them are summed).
        include_bias: Also sum the biases of a Module.

    Returns:
        A Value (0 for no weights) that ``backward`` differentiates.
    """
    return autograd.sum(_values(m, include_bias, "weight_sum"))


def l1_penalty(m: Module | Iterable[Value], lam: float, include_bias: bool = False) -> Value:
    """λ Σ |w| over the weights of ``m``; d/dw = λ sign(w).

    Args:
        m: A Module, or an iterable of Values.
        lam: The strength λ >= 0.
        include_bias: Also penalise the biases of a Module.

    Returns:
        A differentiable Value; add it to the loss before ``backward``.
    """
    k = nonnegative(lam, "lam", "l1_penalty")
    return k * autograd.sum([w.abs() for w in _values(m, include_bias, "l1_penalty")])


def l2_penalty(m: Module | Iterable[Value], lam: float, include_bias: bool = False) -> Value:
    """λ Σ w² over the weights of ``m``; d/dw = 2 λ w.

    Args:
        m: A Module, or an iterable of Values.
        lam: The strength λ >= 0.
        include_bias: Also penalise the biases of a Module.

    Returns:
        A differentiable Value; add it to the loss before ``backward``.
    """
    k = nonnegative(lam, "lam", "l2_penalty")
    return k * autograd.sum([w * w for w in _values(m, include_bias, "l2_penalty")])


def _stats(xs: list[float]) -> dict[str, Any]:
    n = len(xs)
    s = math.fsum(xs)
    return {
        "sum": s,
        "l1": math.fsum(abs(x) for x in xs),
        "l2": math.fsum(x * x for x in xs),
        "mean": s / n if n else 0.0,
        "max_abs": max((abs(x) for x in xs), default=0.0),
        "count": n,
    }


def weight_stats(m: Module | Iterable[Value], include_bias: bool = False) -> dict[str, Any]:
    """Sums of the weights for monitoring, as plain numbers (no graph is built).

    Args:
        m: An MLP (one entry per layer), a Layer or Neuron (one entry), or any other Module
            or iterable of Values (one entry with all of them).
        include_bias: Count the biases of a Module too.

    Returns:
        ``{"layers": [stats, ...], "total": stats}`` where each ``stats`` is
        ``{"sum": Σw, "l1": Σ|w|, "l2": Σw², "mean": Σw/count, "max_abs": max|w|,
        "count": int}`` (floats; sums are exactly rounded; an empty set gives zeros).
    """
    if isinstance(m, Module):
        parts = getattr(m, "layers", None)
        groups = parts if isinstance(parts, list) else [m]
        per = [[v.data for v in _values(g, include_bias, "weight_stats")] for g in groups]
    else:
        per = [[v.data for v in _values(m, include_bias, "weight_stats")]]
    every = [x for xs in per for x in xs]
    return {"layers": [_stats(xs) for xs in per], "total": _stats(every)}
