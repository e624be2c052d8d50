"""Loss functions with mean reduction, matching PyTorch's, built from Value ops.

* ``mse_loss``            mean (p - t)²                        (``F.mse_loss``)
* ``hinge_loss``          mean relu(1 - y s), y = ±1           (micrograd's max-margin loss)
* ``bce_with_logits_loss`` mean max(x,0) - x y + log(1 + e^-|x|)
  (``F.binary_cross_entropy_with_logits``)
* ``cross_entropy_loss``  mean log Σ_j e^(l_j) - l_t          (``F.cross_entropy``)

Predictions are a Value or a list of Values (numbers are accepted as constants); targets are
numbers or Values. A list of lists is flattened (a batch of vector outputs), as PyTorch
averages over every element. Loss nodes are made outside any module scope.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Sequence
from typing import Any

import autograd
from autograd import Value

__all__ = ["bce_with_logits_loss", "cross_entropy_loss", "hinge_loss", "mse_loss"]


def _flat(xs: object, what: str, who: str) -> list[Any]:
    """``xs`` as a flat list of Values/numbers (one level of nesting is flattened)."""
    if isinstance(xs, (Value, numbers.Real)):
        return [xs]
    if isinstance(xs, (str, bytes)) or not isinstance(xs, Iterable):
        raise TypeError(
            f"{who}: {what} must be a Value, a number or a list of them, got {type(xs).__name__}"
        )
    items: list[object] = list(xs)
    out: list[Any] = []
    for i, x in enumerate(items):
        if isinstance(x, (Value, numbers.Real)) and not isinstance(x, bool):
            out.append(x)
        elif isinstance(x, Sequence) and not isinstance(x, (str, bytes)):
            for j, y in enumerate(x):
                if not isinstance(y, (Value, numbers.Real)) or isinstance(y, bool):
                    raise TypeError(f"{who}: {what}[{i}][{j}] is not a number or Value: {y!r}")
                out.append(y)
        else:
            raise TypeError(f"{who}: {what}[{i}] is not a number or Value: {x!r}")
    return out


def _pair(
    preds: object, targets: object, names: tuple[str, str], who: str
) -> tuple[list[Value], list[Any]]:
    # Numbers among the predictions become constant leaves, so every term is a Value.
    ps = [p if isinstance(p, Value) else Value(float(p)) for p in _flat(preds, names[0], who)]
    ts = _flat(targets, names[1], who)
    if len(ps) != len(ts):
        raise ValueError(f"{who}: {len(ps)} {names[0]} but {len(ts)} {names[1]}")
    if not ps:
        raise ValueError(f"{who}: no {names[0]} (the mean of nothing is undefined)")
    return ps, ts


def _data(x: Any) -> float:
    return x.data if isinstance(x, Value) else float(x)


def mse_loss(preds: Any, targets: Any) -> Value:
    """L = (1/n) Σ_i (p_i - t_i)²; dL/dp_i = 2 (p_i - t_i) / n.

    Args:
        preds: A Value or a list of Values (a list of lists is flattened).
        targets: Numbers or Values, matching ``preds`` in length.

    Returns:
        The mean squared error, a Value.
    """
    ps, ts = _pair(preds, targets, ("predictions", "targets"), "mse_loss")
    sq = []
    for p, t in zip(ps, ts):
        d = p - t
        sq.append(d * d)
    return autograd.sum(sq) / len(sq)


def hinge_loss(scores: Any, labels: Any) -> Value:
    """L = (1/n) Σ_i relu(1 - y_i s_i) with y_i = ±1 (micrograd's max-margin loss).

    Args:
        scores: A Value or a list of Values (raw scores, no activation).
        labels: +1 or -1 each (numbers or Values).

    Returns:
        The mean hinge loss, a Value.

    Raises:
        ValueError: A label other than ±1, or mismatched lengths.
    """
    ss, ys = _pair(scores, labels, ("scores", "labels"), "hinge_loss")
    for i, y in enumerate(ys):
        if _data(y) not in (1.0, -1.0):
            raise ValueError(f"hinge_loss: labels must be +1 or -1, got {_data(y)!r} at {i}")
    return autograd.sum([(1 - y * s).relu() for s, y in zip(ss, ys)]) / len(ss)


def _bce_term(x: Value, y: Any) -> Value:
    # max(x,0) - x y + log(1 + e^-|x|), written per sign of x so that every piece is smooth
    # where it is used: the max/abs form would give the subgradient -y at x = 0, while the
    # true derivative there is sigmoid(0) - y = 0.5 - y (PyTorch's). exp never overflows.
    if x.data >= 0.0:
        out: Value = x * (1 - y) + (1 + (-x).exp()).log()
    else:
        out = (1 + x.exp()).log() - x * y
    return out


def bce_with_logits_loss(logits: Any, targets: Any) -> Value:
    """L = (1/n) Σ_i max(x_i,0) - x_i t_i + log(1 + e^-|x_i|); dL/dx_i = (σ(x_i) - t_i)/n.

    The stable form of binary cross-entropy on sigmoid(x): finite for any finite logit.

    Args:
        logits: A Value or a list of Values (raw scores).
        targets: Probabilities in [0, 1] (numbers or Values).

    Returns:
        The mean loss, a Value.
    """
    xs, ts = _pair(logits, targets, ("logits", "targets"), "bce_with_logits_loss")
    return autograd.sum([_bce_term(x, t) for x, t in zip(xs, ts)]) / len(xs)


def _index(t: object, n: int, where: str) -> int:
    if isinstance(t, bool) or not isinstance(t, numbers.Integral):
        raise TypeError(f"cross_entropy_loss: {where} must be an int, got {t!r}")
    k = int(t)
    if not 0 <= k < n:
        raise IndexError(f"cross_entropy_loss: {where} = {k} is out of range for {n} classes")
    return k


def _ce_one(logits: object, t: object, where: str) -> Value:
    if isinstance(logits, (str, bytes)) or not isinstance(logits, Sequence) or not logits:
        raise TypeError(f"cross_entropy_loss: logits{where} must be a non-empty list")
    ls: list[Any] = list(logits)
    for j, v in enumerate(ls):
        if not isinstance(v, (Value, numbers.Real)) or isinstance(v, bool):
            raise TypeError(f"cross_entropy_loss: logits{where}[{j}] is not a number: {v!r}")
    k = _index(t, len(ls), f"target{where}")
    # log Σ_j e^(l_j) - l_t = log Σ_j e^(l_j - m) - (l_t - m) with m = max_j l_j a constant:
    # every exponent is <= 0 (no overflow), one term is e^0 = 1 (no log 0), and the gradient
    # is still softmax - onehot since m cancels.
    m = max(_data(v) for v in ls)
    shifted = [v - m if isinstance(v, Value) else Value(float(v) - m) for v in ls]
    return autograd.sum([s.exp() for s in shifted]).log() - shifted[k]


def cross_entropy_loss(logits: Any, target_index: Any) -> Value:
    """L = log Σ_j e^(l_j) - l_t (softmax cross-entropy); dL/dl_j = softmax_j - [j = t].

    Args:
        logits: One sample's logits (a list of Values), or a batch (a list of such lists).
        target_index: The true class (an int) for one sample, or a list of ints for a batch.

    Returns:
        The loss (for a batch, the mean over samples), a Value. Exact and finite for logits
        of any finite size (±1000 included).
    """
    if isinstance(target_index, Sequence) and not isinstance(target_index, (str, bytes)):
        if isinstance(logits, (str, bytes)) or not isinstance(logits, Sequence):
            raise TypeError("cross_entropy_loss: a batch of targets needs a list of logit lists")
        if len(logits) != len(target_index):
            raise ValueError(
                f"cross_entropy_loss: {len(logits)} samples of logits "
                f"but {len(target_index)} targets"
            )
        if not logits:
            raise ValueError("cross_entropy_loss: empty batch (the mean of nothing is undefined)")
        losses = [_ce_one(row, t, f"[{i}]") for i, (row, t) in enumerate(zip(logits, target_index))]
        return autograd.sum(losses) / len(losses)
    if isinstance(logits, Sequence) and logits and not isinstance(logits[0], (Value, numbers.Real)):
        raise TypeError(
            "cross_entropy_loss: logits is a batch (a list of lists): pass a list of targets"
        )
    return _ce_one(logits, target_index, "")
