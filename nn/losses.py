"""Loss functions with mean reduction, matching PyTorch's, built from Value ops.

* ``mse_loss``            mean (p - t)²                        (``F.mse_loss``)
* ``hinge_loss``          mean relu(1 - y s), y = ±1           (micrograd's max-margin loss)
* ``bce_with_logits_loss`` mean max(x,0) - x y + log(1 + e^-|x|)
  (``F.binary_cross_entropy_with_logits``)
* ``cross_entropy_loss``  mean log Σ_j e^(l_j) - l_t          (``F.cross_entropy``)

Predictions are a Value or a list of Values (numbers are accepted as constants); targets are
numbers or Values. A list of lists is flattened (a batch of vector outputs), as PyTorch
averages over every element. Loss nodes are made outside any module scope.

:data:`LOSSES` is the loss table :func:`nn.fit` reads, one :class:`Loss` row per loss (as
``autograd.OPS`` is for ops): its function, how a target is checked and encoded, the accuracy
rule and the compiled form. ``fit`` asks the row and never switches on a loss's name.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import autograd
from autograd import Value

from ._validate import real

__all__ = [
    "LOSSES",
    "LOSS_ALIASES",
    "Loss",
    "bce_with_logits_loss",
    "cross_entropy_loss",
    "get_loss",
    "hinge_loss",
    "mse_loss",
]


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


# ---------------------------------------------------------------------------------------------
# The loss table: what a training loop needs to know about each loss, one row per loss


def _finite_target(t: object, i: int) -> float:
    f = real(t, f"y[{i}]", "fit")
    if not math.isfinite(f):
        raise ValueError(f"fit: y[{i}] is {f!r}: targets must be finite numbers (NaN target)")
    return f


def _encode_label(t: object, i: int) -> float:
    f = _finite_target(t, i)
    if f not in (1.0, -1.0):
        raise ValueError(f"fit: y[{i}] must be +1 or -1 for the hinge loss, got {t!r}")
    return f


def _encode_probability(t: object, i: int) -> float:
    f = _finite_target(t, i)
    if not 0.0 <= f <= 1.0:
        raise ValueError(f"fit: y[{i}] must be in [0, 1] for binary cross-entropy, got {t!r}")
    return f


def _encode_floats(t: object, i: int) -> float | list[float]:
    if isinstance(t, Iterable) and hasattr(t, "__len__") and not isinstance(t, (str, bytes)):
        return [_finite_target(v, i) for v in t]  # a list or a numpy row: several outputs
    return _finite_target(t, i)


def _encode_index(t: object, i: int) -> int:
    f = _finite_target(t, i)
    if f != int(f) or f < 0:
        raise ValueError(f"fit: y[{i}] must be a class index >= 0, got {t!r}")
    return int(f)


def _encode_any(t: object, i: int) -> object:
    return t


def _single(name: str) -> Callable[[list[list[Value]]], list[Any]]:
    def preds(outs: list[list[Value]]) -> list[Any]:
        for o in outs:
            if len(o) != 1:
                raise ValueError(f"fit: loss {name!r} needs one output per sample, got {len(o)}")
        return [o[0] for o in outs]

    return preds


def _flat_preds(outs: list[list[Value]]) -> list[Any]:
    return [v for o in outs for v in o]


def _flat_targets(ys: list[Any]) -> list[Any]:
    return [v for t in ys for v in (t if isinstance(t, list) else [t])]


def _custom_preds(outs: list[list[Value]]) -> list[Any]:
    return [o[0] if len(o) == 1 else o for o in outs]


def _same(xs: list[Any]) -> list[Any]:
    return xs


def _sign_agrees(out: Sequence[float], t: Any) -> bool:
    return bool((out[0] > 0) == (t > 0))


def _logit_agrees(out: Sequence[float], t: Any) -> bool:
    return bool((out[0] > 0) == (t > 0.5))


def _argmax_agrees(out: Sequence[float], t: Any) -> bool:
    best = max(range(len(out)), key=lambda k: out[k])  # first maximum, as torch.argmax
    return bool(best == t)


def _ce_batch(preds: list[Any], targets: list[Any]) -> Value:
    terms = [cross_entropy_loss(p, t) for p, t in zip(preds, targets)]
    return autograd.sum(terms) / len(terms)


Compiled = tuple[Value, list[Value], list[Any]]


def _compiled_scalar(row: Loss, outs: list[Value], ys: list[Any]) -> Compiled:
    # One target leaf; its value is a placeholder (columns replace it), but losses check it.
    t = Value(1.0, label="y")
    return row.fn(row.preds([outs]), [t]), [t], [np.array([float(v) for v in ys])]


def _target_leaves(outs: list[Value], ys: list[Any]) -> tuple[list[Value], list[Any]]:
    """One target leaf per output, and the columns of the targets that feed them."""
    nt = len(outs)
    tgt = np.array([t if isinstance(t, list) else [t] for t in ys], dtype=float)
    if tgt.shape[1] != nt:
        raise ValueError(f"fit: targets have {tgt.shape[1]} values, model {nt} outputs")
    return [Value(1.0, label=f"y{k}") for k in range(nt)], list(tgt.T)


def _compiled_vector(row: Loss, outs: list[Value], ys: list[Any]) -> Compiled:
    ts, cols = _target_leaves(outs, ys)
    return row.fn(list(outs), list(ts)), ts, cols


def _compiled_custom(row: Loss, outs: list[Value], ys: list[Any]) -> Compiled:
    if len(outs) == 1:
        return _compiled_scalar(row, outs, ys)
    ts, cols = _target_leaves(outs, ys)
    return row.fn([list(outs)], [list(ts)]), ts, cols  # one sample: a list of outputs


def _compiled_onehot(row: Loss, outs: list[Value], ys: list[Any]) -> Compiled:
    # One-hot target columns: loss_i = sum_k t_k * CE(logits, k) is exact for one-hot t.
    ncls = len(outs)
    ts = [Value(0.0, label=f"t{k}") for k in range(ncls)]
    data = autograd.sum([t * cross_entropy_loss(outs, k) for k, t in enumerate(ts)])
    onehot = np.zeros((ncls, len(ys)))
    for i, t in enumerate(ys):
        if t >= ncls:
            raise ValueError(f"fit: y[{i}] = {t} but the model has {ncls} outputs")
        onehot[t, i] = 1.0
    return data, ts, list(onehot)


@dataclass(frozen=True)
class Loss:
    """One row of the loss table: everything a training loop asks about a loss.

    Attributes:
        name: The name ``fit(loss=...)`` takes (``"custom"`` for a callable).
        doc: Targets, formula and accuracy rule in one line.
        fn: ``fn(preds, targets) -> Value``, the batch's mean loss.
        encode: ``encode(y_i, i)``: one target checked and put in the form ``fn`` takes
            (errors name ``y[i]``).
        preds: The batch's model outputs (a list of Values per sample) as ``fn`` takes them.
        targets: The batch's encoded targets as ``fn`` takes them.
        correct: ``correct(outputs, target) -> bool``, the accuracy rule; ``None`` for losses
            with no notion of a class.
        compiled: ``compiled(row, outs, ys) -> (loss, target leaves, target columns)``: the
            per-sample loss over symbolic targets, and the columns that feed them, for
            ``autograd.compile``.
    """

    name: str
    doc: str
    fn: Callable[[Any, Any], Value]
    encode: Callable[[object, int], Any]
    preds: Callable[[list[list[Value]]], list[Any]]
    correct: Callable[[Sequence[float], Any], bool] | None
    compiled: Callable[[Loss, list[Value], list[Any]], Compiled]
    targets: Callable[[list[Any]], list[Any]] = _same

    def __repr__(self) -> str:
        return f"Loss({self.name!r}: {self.doc})"


#: The built-in losses of :func:`nn.fit`, by name.
LOSSES: dict[str, Loss] = {
    row.name: row
    for row in (
        Loss(
            "hinge",
            "labels +-1, scores: mean of relu(1 - y * s); accuracy = sign agreement",
            hinge_loss,
            _encode_label,
            _single("hinge"),
            _sign_agrees,
            _compiled_scalar,
        ),
        Loss(
            "mse",
            "float targets (a list per sample for several outputs): mean of (p - y)^2; no accuracy",
            mse_loss,
            _encode_floats,
            _flat_preds,
            None,
            _compiled_vector,
            _flat_targets,
        ),
        Loss(
            "bce",
            "targets 0/1, logits: binary cross-entropy with logits; accuracy = (logit > 0) == y",
            bce_with_logits_loss,
            _encode_probability,
            _single("bce"),
            _logit_agrees,
            _compiled_scalar,
        ),
        Loss(
            "cross_entropy",
            "class indices, one logit per class; accuracy = argmax agreement",
            _ce_batch,
            _encode_index,
            _same,
            _argmax_agrees,
            _compiled_onehot,
        ),
    )
}

#: Other names accepted for the same losses (the loss functions' own names, without ``_loss``).
LOSS_ALIASES: dict[str, str] = {"bce_with_logits": "bce"}


def get_loss(loss: str | Callable[[Any, Any], Value]) -> Loss:
    """The table row of a loss name (or alias), or a ``"custom"`` row for a callable.

    Args:
        loss: A key of :data:`LOSSES` or :data:`LOSS_ALIASES`, or ``fn(preds, targets) ->
            Value``.

    Returns:
        The :class:`Loss` row.

    Raises:
        ValueError: An unknown name.
    """
    if callable(loss):
        return Loss(
            "custom",
            "your fn(preds, targets) -> Value; no accuracy",
            loss,
            _encode_any,
            _custom_preds,
            None,
            _compiled_custom,
        )
    name = LOSS_ALIASES.get(loss, loss) if isinstance(loss, str) else loss
    row = LOSSES.get(name) if isinstance(name, str) else None
    if row is None:
        known = ", ".join(repr(k) for k in LOSSES)
        raise ValueError(f"fit: unknown loss {loss!r}; use one of {known} or a callable")
    return row
