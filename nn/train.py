"""A training loop that monitors what the seed articles ask for: loss, accuracy and weight sums.

:func:`fit` runs plain (mini-)batch gradient descent over a scalar-graph model and records, per
epoch, the loss, the accuracy (for classification losses), the learning rate and
:func:`nn.weight_stats` (sum, L1 and L2 of the weights per layer: "monitor weight sums
throughout training"). The loop itself is the one every micrograd user has written::

    for epoch in range(epochs):
        loss = data_loss(model(X), y) + l1 * sum|w| + l2 * sum w^2
        optimizer.zero_grad(); loss.backward(); optimizer.step()

with three guards a hand-written loop lacks: a progress bar only when a person is watching, an
early stop from callbacks, and a clear :class:`TrainingDivergedError` (the model keeps its last
finite weights) when the loss or a weight stops being a finite number.
"""

from __future__ import annotations

import math
import re
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import autograd
from autograd import Value

from .module import Module

__all__ = ["DEFAULT_LR", "LOSSES", "History", "TrainingDivergedError", "fit"]

#: Learning rate of the SGD optimizer :func:`fit` makes when none is given (micrograd's moons
#: demo starts at 1.0 and decays to 0.1; 0.1 is safe for the built-in losses on unit-scale data).
DEFAULT_LR = 0.1

#: Loss names :func:`fit` accepts, and whether each is a classification loss.
LOSSES: dict[str, str] = {
    "hinge": "labels +-1, scores: mean of relu(1 - y * s); accuracy = sign agreement",
    "mse": "float targets: mean of (p - y)^2; no accuracy",
    "bce": "targets 0/1, logits: binary cross-entropy with logits; accuracy = (logit > 0) == y",
    "cross_entropy": "class indices, one logit per class; accuracy = argmax agreement",
}

#: Other names accepted for the same losses (the loss functions' own names, without ``_loss``).
LOSS_ALIASES: dict[str, str] = {"bce_with_logits": "bce"}

LossFn = Callable[[list[Value], list[Any]], Value]
Callback = Callable[[int, "History", Any], Any]


class TrainingDivergedError(FloatingPointError):
    """The loss or a weight stopped being finite during :func:`fit`.

    Attributes:
        epoch: The epoch (0-based) in which it happened.
        layer: The layer (or parameter group) whose weights, or whose nodes, went non-finite.
    """

    def __init__(self, message: str, *, epoch: int, layer: str) -> None:
        super().__init__(message)
        self.epoch = epoch
        self.layer = layer


@dataclass
class History:
    """What :func:`fit` recorded, one entry per completed epoch (lists of equal length).

    Attributes:
        epochs: Epoch numbers, 0-based (as ``for k in range(epochs)``).
        loss: The objective minimised: mean data loss plus the L1/L2 penalty terms, averaged
            over the epoch's batches (weighted by batch size), each measured before that batch's
            step.
        data_loss: The mean data loss alone (no penalty), measured the same way.
        accuracy: Fraction of samples classified correctly in the epoch's forward passes, or
            ``None`` per epoch for losses with no notion of a class (``"mse"``, callables).
        lr: The learning rate used in the epoch.
        weight_stats: ``nn.weight_stats(model)`` after the epoch's last step.
        stopped_early: True when a callback asked to stop.
    """

    epochs: list[int] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    data_loss: list[float] = field(default_factory=list)
    accuracy: list[float | None] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    weight_stats: list[dict[str, Any]] = field(default_factory=list)
    stopped_early: bool = False

    def __len__(self) -> int:
        return len(self.epochs)

    def as_dict(self) -> dict[str, Any]:
        """Plain lists and dicts (JSON-serialisable), e.g. for ``json.dump``."""
        return {
            "epochs": list(self.epochs),
            "loss": list(self.loss),
            "data_loss": list(self.data_loss),
            "accuracy": list(self.accuracy),
            "lr": list(self.lr),
            "weight_stats": [dict(s) for s in self.weight_stats],
            "stopped_early": self.stopped_early,
        }

    def _repr_html_(self, rows: int = 11) -> str:
        """Jupyter's view: a table of about ``rows`` epochs (first, evenly spaced, last)."""
        import html

        n = len(self.epochs)
        picked = sorted({0, n - 1, *range(0, n, max(1, n // max(1, rows - 1)))}) if n else []
        heads = ["epoch", "loss", "data loss", "accuracy", "lr", "Σ w", "Σ |w|", "Σ w²"]
        body = []
        for i in picked:
            total = self.weight_stats[i].get("total", {}) if i < len(self.weight_stats) else {}
            acc = self.accuracy[i]
            cells = [str(self.epochs[i]), f"{self.loss[i]:.6g}", f"{self.data_loss[i]:.6g}"]
            cells += ["" if acc is None else f"{acc:.1%}", f"{self.lr[i]:.4g}"]
            cells += [f"{total[k]:.4f}" if k in total else "" for k in ("sum", "l1", "l2")]
            body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
        stop = ", stopped early" if self.stopped_early else ""
        return (
            f"<p><b>History</b>: {n} epoch(s){stop}; weight sums of the whole network</p>"
            "<table><tr>" + "".join(f"<th>{h}</th>" for h in heads) + "</tr>"
            + "".join(body) + "</table>"
        )  # fmt: skip

    def __repr__(self) -> str:
        if not self.epochs:
            return "History(epochs=0)"
        acc = self.accuracy[-1]
        tail = f", accuracy={acc:.4f}" if acc is not None else ""
        return f"History(epochs={len(self.epochs)}, loss={self.loss[-1]:.6g}{tail})"


# ---------------------------------------------------------------------------------------------
# Losses, targets and accuracy


def _resolve_loss(loss: str | LossFn) -> tuple[str, LossFn]:
    """The loss's kind (a key of :data:`LOSSES`, or ``"custom"``) and a batch loss function."""
    from . import bce_with_logits_loss, cross_entropy_loss, hinge_loss, mse_loss

    if callable(loss):
        return "custom", loss
    if isinstance(loss, str):
        loss = LOSS_ALIASES.get(loss, loss)
    if not isinstance(loss, str) or loss not in LOSSES:
        known = ", ".join(repr(k) for k in LOSSES)
        raise ValueError(f"fit: unknown loss {loss!r}; use one of {known} or a callable")
    if loss == "cross_entropy":

        def ce(preds: list[Any], targets: list[Any]) -> Value:
            terms = [cross_entropy_loss(p, t) for p, t in zip(preds, targets)]
            return autograd.sum(terms) / len(terms)

        return loss, ce
    fn = {"hinge": hinge_loss, "mse": mse_loss, "bce": bce_with_logits_loss}[loss]
    return loss, fn


def _as_float_rows(X: Iterable[Any]) -> list[list[float]]:
    rows: list[list[float]] = []
    for i, row in enumerate(X):
        try:
            vals = [float(v) for v in row] if _is_seq(row) else [float(row)]
        except (TypeError, ValueError):
            raise TypeError(f"fit: X[{i}] must be a sequence of numbers, got {row!r}") from None
        rows.append(vals)
    return rows


def _is_seq(x: Any) -> bool:
    return hasattr(x, "__len__") and not isinstance(x, (str, bytes))


def _targets(kind: str, y: Iterable[Any], n: int) -> list[Any]:
    ys = list(y)
    if len(ys) != n:
        raise ValueError(f"fit: X has {n} samples but y has {len(ys)}")
    if kind == "cross_entropy":
        out: list[Any] = []
        for i, t in enumerate(ys):
            if isinstance(t, bool) or int(t) != t or t < 0:
                raise ValueError(f"fit: y[{i}] must be a class index >= 0, got {t!r}")
            out.append(int(t))
        return out
    if kind == "custom":
        return ys
    return [[float(v) for v in t] if _is_seq(t) else float(t) for t in ys]


def _call(model: Module, x: Any) -> Any:
    """``model(x)``: every concrete Module (Neuron, Layer, MLP, yours) defines ``__call__``."""
    return model(x)  # type: ignore[operator]


def _outputs(out: Any) -> list[Value]:
    """A model's output as a list of Values (micrograd returns a bare Value for one output)."""
    if isinstance(out, Value):
        return [out]
    return list(out)


def _batch_preds(kind: str, outs: list[list[Value]]) -> list[Any]:
    """What the loss function takes: one Value per sample for single-output losses."""
    if kind in ("hinge", "bce"):
        for o in outs:
            if len(o) != 1:
                raise ValueError(f"fit: loss {kind!r} needs one output per sample, got {len(o)}")
        return [o[0] for o in outs]
    if kind == "mse":
        return [v for o in outs for v in o]
    if kind == "custom":
        return [o[0] if len(o) == 1 else o for o in outs]
    return outs  # cross_entropy: the logits of each sample


def _batch_targets(kind: str, ys: list[Any]) -> list[Any]:
    if kind == "mse":
        return [v for t in ys for v in (t if isinstance(t, list) else [t])]
    return ys


def _correct(kind: str, out: Sequence[float], t: Any) -> bool | None:
    if kind == "hinge":
        return bool((out[0] > 0) == (t > 0))
    if kind == "bce":
        return bool((out[0] > 0) == (t > 0.5))
    if kind == "cross_entropy":
        best = max(range(len(out)), key=lambda k: out[k])  # first maximum, as torch.argmax
        return bool(best == t)
    return None


# ---------------------------------------------------------------------------------------------
# Divergence


def _layer_of(name: str) -> str:
    """The layer part of a parameter name: ``layers.1.neurons.0.w.2`` -> ``layers.1``."""
    parts = name.split(".")
    if len(parts) >= 2 and parts[0] == "layers":
        return ".".join(parts[:2])
    if parts and parts[0] == "neurons":
        return "layer"
    return name


def _layer_of_scope(scope: str) -> str:
    """The layer of a node's scope, named as in parameter names: ``mlp.layer1.neuron0`` ->
    ``layers.1`` (the scope itself when it names no layer)."""
    m = re.search(r"(?:^|\.)layer(\d+)(?:\.|$)", scope)
    return f"layers.{m.group(1)}" if m else scope


def _nonfinite_layers(model: Module) -> list[str]:
    bad: list[str] = []
    for name, p in model.named_parameters():
        if not math.isfinite(p.data):
            layer = _layer_of(name)
            if layer not in bad:
                bad.append(layer)
    return bad


def _first_nonfinite_node(root: Value) -> Value | None:
    for node in autograd.topological_order(root):
        if not math.isfinite(node.data):
            return node
    return None


def _largest_weight_layer(model: Module) -> str:
    best, where = -1.0, "model"
    for name, p in model.named_parameters():
        if abs(p.data) > best:
            best, where = abs(p.data), _layer_of(name)
    return where


# ---------------------------------------------------------------------------------------------
# Progress bar


def _progress_bar(enabled: bool, epochs: int) -> Any:
    """A tqdm bar when a person is watching (a terminal, or Jupyter: tqdm.auto draws a notebook
    bar there, or a text bar without ipywidgets) and tqdm is installed."""
    if not enabled:
        return None
    isatty = getattr(sys.stderr, "isatty", None)
    jupyter = "ipykernel.zmqshell" in sys.modules  # the test tqdm.auto itself makes
    if not jupyter and (isatty is None or not isatty()):
        return None
    try:
        with warnings.catch_warnings():  # tqdm.auto warns, then falls back, without ipywidgets
            warnings.simplefilter("ignore")
            from tqdm.auto import tqdm
    except ImportError:  # the `progress` extra is optional: train quietly without it
        return None
    return tqdm(total=epochs, desc="fit", unit="epoch", file=sys.stderr, leave=True)


# ---------------------------------------------------------------------------------------------
# The loop


def fit(
    model: Module,
    X: Iterable[Any],
    y: Iterable[Any],
    *,
    loss: str | LossFn = "hinge",
    optimizer: Any = None,
    epochs: int = 100,
    batch_size: int | None = None,
    l1: float = 0.0,
    l2: float = 0.0,
    lr_schedule: Callable[[int], float] | None = None,
    progress: bool = True,
    callbacks: Sequence[Callback] = (),
    compiled: bool = False,
) -> History:
    """Train ``model`` on ``(X, y)`` by gradient descent and record what happened.

    Args:
        model: An ``nn.Module`` (e.g. ``nn.MLP``): ``model(x)`` maps one sample to a Value or a
            list of Values.
        X: Samples, each a sequence of numbers (a list of lists or a 2-D numpy array).
        y: Targets: +-1 for ``"hinge"``, 0/1 for ``"bce"``, floats (or lists of floats) for
            ``"mse"``, class indices for ``"cross_entropy"``.
        loss: ``"hinge"``, ``"mse"``, ``"bce"`` (with logits), ``"cross_entropy"``, or a callable
            ``(preds, targets) -> Value`` taking one batch (preds: one Value per sample for a
            single-output model, else a list per sample) and returning its mean loss.
        optimizer: Any object with ``zero_grad()``, ``step()`` and an assignable ``lr`` (``nn.SGD``,
            ``nn.Adam``); ``None`` makes ``nn.SGD(model.parameters(), lr=DEFAULT_LR)`` (0.1).
        epochs: Passes over the data.
        batch_size: Samples per step, in the given order (no shuffling, so runs repeat
            exactly); ``None`` uses the whole data set in one step per epoch.
        l1: Adds ``l1 * sum |w|`` (``nn.l1_penalty``, weights only) to the loss.
        l2: Adds ``l2 * sum w^2`` (``nn.l2_penalty``, weights only) to the loss.
        lr_schedule: ``epoch -> lr``, set on the optimizer before each epoch (micrograd's
            ``lambda k: 1.0 - 0.9 * k / 100``).
        progress: Show a tqdm bar when stderr is a terminal (never in pipes, logs or tests).
        callbacks: Each called as ``cb(epoch, history, model)`` after every epoch; one that
            returns ``True`` stops training after that epoch (``history.stopped_early``).
        compiled: Build the per-sample graph once with ``autograd.compile`` and run every batch
            through the generated numpy code: same numbers, much faster. The loss must be a
            mean of per-sample terms (every built-in one is).

    Returns:
        A :class:`History` with one entry per completed epoch.

    Raises:
        TrainingDivergedError: The loss, or a weight after a step, is not finite; the message
            names the epoch and the layer, and the model keeps its last finite weights.
        ValueError: Unknown loss, mismatched ``X``/``y``, bad ``epochs``/``batch_size``.
    """
    from . import SGD, l1_penalty, l2_penalty, weight_stats

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"fit: batch_size must be an int >= 1 or None, got {batch_size!r}")
    for pname, lam in (("l1", l1), ("l2", l2)):
        if not math.isfinite(lam) or lam < 0:
            raise ValueError(f"fit: {pname} must be a finite number >= 0, got {lam!r}")
    kind, loss_fn = _resolve_loss(loss)
    rows = _as_float_rows(X)
    n = len(rows)
    if n == 0:
        raise ValueError("fit: X is empty")
    ys = _targets(kind, y, n)
    if optimizer is None:
        optimizer = SGD(model.parameters(), lr=DEFAULT_LR)
    size = n if batch_size is None else min(batch_size, n)
    batches = [(s, min(s + size, n)) for s in range(0, n, size)]

    step: Callable[[int, int, int], tuple[float, float, int | None]]
    if compiled:
        step = _CompiledStep(model, optimizer, kind, loss_fn, rows, ys, l1, l2)
    else:

        def step(epoch: int, lo: int, hi: int) -> tuple[float, float, int | None]:
            outs = [_outputs(_call(model, r)) for r in rows[lo:hi]]
            data = loss_fn(_batch_preds(kind, outs), _batch_targets(kind, ys[lo:hi]))
            total = data
            if l1:
                total = total + l1_penalty(model, l1)
            if l2:
                total = total + l2_penalty(model, l2)
            _check_loss(model, total, epoch)
            optimizer.zero_grad()
            total.backward()
            correct = _count_correct(kind, [[v.data for v in o] for o in outs], ys[lo:hi])
            return total.data, data.data, correct

    history = History()
    bar = _progress_bar(progress, epochs)
    try:
        for epoch in range(epochs):
            if lr_schedule is not None:
                optimizer.lr = float(lr_schedule(epoch))
            tot_sum = data_sum = 0.0
            n_correct: int | None = 0
            for lo, hi in batches:
                snapshot = model.state_dict()
                try:
                    tot, dat, corr = step(epoch, lo, hi)
                except TrainingDivergedError:
                    raise
                except ArithmeticError as e:  # the engine's OverflowError in exp, ...
                    layer = _largest_weight_layer(model)
                    raise TrainingDivergedError(
                        f"fit: training diverged at epoch {epoch}: the forward pass failed "
                        f"({e}); the largest weights are in {layer}. The model keeps its last "
                        "finite weights; lower the learning rate.",
                        epoch=epoch,
                        layer=layer,
                    ) from e
                optimizer.step()
                bad = _nonfinite_layers(model)
                if bad:
                    model.load_state_dict(snapshot)
                    raise TrainingDivergedError(
                        f"fit: training diverged at epoch {epoch}: the step made the weights of "
                        f"{', '.join(bad)} non-finite (loss before the step: {tot!r}). The model "
                        "keeps its last finite weights; lower the learning rate.",
                        epoch=epoch,
                        layer=bad[0],
                    )
                w = hi - lo
                tot_sum += tot * w
                data_sum += dat * w
                n_correct = None if (corr is None or n_correct is None) else n_correct + corr
            history.epochs.append(epoch)
            history.loss.append(tot_sum / n)
            history.data_loss.append(data_sum / n)
            history.accuracy.append(None if n_correct is None else n_correct / n)
            history.lr.append(float(optimizer.lr))
            history.weight_stats.append(weight_stats(model))
            if bar is not None:
                acc = history.accuracy[-1]
                post = {"loss": f"{history.loss[-1]:.4g}"}
                if acc is not None:
                    post["acc"] = f"{acc:.1%}"
                bar.set_postfix(post, refresh=False)
                bar.update(1)
            if any(cb(epoch, history, model) is True for cb in list(callbacks)):
                history.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    return history


def _count_correct(kind: str, outs: list[list[float]], ys: list[Any]) -> int | None:
    if kind not in ("hinge", "bce", "cross_entropy"):
        return None
    return sum(1 for o, t in zip(outs, ys) if _correct(kind, o, t))


def _check_loss(model: Module, total: Value, epoch: int) -> None:
    """Raise :class:`TrainingDivergedError` if the loss is not finite, naming where it broke."""
    if math.isfinite(total.data):
        return
    bad = _nonfinite_layers(model)
    if bad:
        layer, why = bad[0], f"the weights of {', '.join(bad)} are non-finite"
    else:
        node = _first_nonfinite_node(total)
        where = node.scope if node is not None else ""
        if where:
            layer = _layer_of_scope(where)
            label = f" ({node.label})" if node is not None and node.label else ""
            why = f"the first non-finite value is in {layer}: node {where}{label}"
        else:
            layer = _largest_weight_layer(model)
            why = f"the loss overflowed; the largest weights are in {layer}"
    raise TrainingDivergedError(
        f"fit: training diverged at epoch {epoch}: loss = {total.data!r}; {why}. The model "
        "keeps its last finite weights; lower the learning rate.",
        epoch=epoch,
        layer=layer,
    )


class _CompiledStep:
    """One batch step through ``autograd.compile``: the per-sample graph is built once.

    The per-sample root is ``loss([pred_i], [y_i]) + penalties``; its mean over a batch equals
    the batch's mean loss plus the penalties (which depend on parameters only, so the compiler
    evaluates them once per call). The model's outputs get programs of their own for accuracy.
    """

    def __init__(
        self,
        model: Module,
        optimizer: Any,
        kind: str,
        loss_fn: LossFn,
        rows: list[list[float]],
        ys: list[Any],
        l1: float,
        l2: float,
    ) -> None:
        import numpy as np

        from . import l1_penalty, l2_penalty

        self.kind = kind
        nin = len(rows[0])
        if any(len(r) != nin for r in rows):
            raise ValueError("fit: every sample of X must have the same length for compiled=True")
        xs = [Value(0.0, label=f"x{i}") for i in range(nin)]
        outs = _outputs(_call(model, xs))
        tcols: list[Any]
        if kind == "cross_entropy":
            from . import cross_entropy_loss

            # One-hot target columns: loss_i = sum_k t_k * CE(logits, k) is exact for one-hot t.
            ncls = len(outs)
            ts = [Value(0.0, label=f"t{k}") for k in range(ncls)]
            data = autograd.sum([t * cross_entropy_loss(outs, k) for k, t in enumerate(ts)])
            onehot = np.zeros((ncls, len(ys)))
            for i, t in enumerate(ys):
                if t >= ncls:
                    raise ValueError(f"fit: y[{i}] = {t} but the model has {ncls} outputs")
                onehot[t, i] = 1.0
            tcols = list(onehot)
        elif kind == "mse" or (kind == "custom" and len(outs) > 1):
            nt = len(outs)
            ts = [Value(1.0, label=f"y{k}") for k in range(nt)]
            tgt = np.array([t if isinstance(t, list) else [t] for t in ys], dtype=float)
            if tgt.shape[1] != nt:
                raise ValueError(f"fit: targets have {tgt.shape[1]} values, model {nt} outputs")
            if kind == "mse":
                data = loss_fn(list(outs), list(ts))
            else:
                data = loss_fn([list(outs)], [list(ts)])  # type: ignore[list-item]
            tcols = list(tgt.T)
        else:
            # The leaf's value is a placeholder (columns replace it), but losses check labels.
            ts = [Value(1.0, label="y")]
            pred = _batch_preds(kind, [outs])
            data = loss_fn(pred, [ts[0]])
            tcols = [np.array([float(t) for t in ys])]
        root = data
        if l1:
            root = root + l1_penalty(model, l1)
        if l2:
            root = root + l2_penalty(model, l2)
        inputs = xs + ts
        self.prog = autograd.compile(root, inputs)
        self.data_prog = autograd.compile(data, inputs) if (l1 or l2) else None
        self.out_progs = [autograd.compile(o, xs) for o in outs]
        self.xcols = list(np.array(rows, dtype=float).T)
        self.tcols = tcols
        self.ys = ys
        self.model = model
        self.optimizer = optimizer
        self.np = np

    def __call__(self, epoch: int, lo: int, hi: int) -> tuple[float, float, int | None]:
        np = self.np
        cols = [c[lo:hi] for c in self.xcols] + [c[lo:hi] for c in self.tcols]
        # Overflow shows up as inf/nan in the loss, which is checked right below (the step
        # is not taken, so the gradients left behind do no harm).
        with np.errstate(all="ignore"):
            self.optimizer.zero_grad()
            per = np.asarray(self.prog.backward(*cols, reduction="mean"), dtype=float)
            total = float(np.mean(per))
            if not math.isfinite(total):
                layer = _nonfinite_layers(self.model) or [_largest_weight_layer(self.model)]
                raise TrainingDivergedError(
                    f"fit: training diverged at epoch {epoch}: loss = {total!r}; a value became "
                    f"non-finite (largest or non-finite weights in {layer[0]}). The model keeps "
                    "its last finite weights; lower the learning rate.",
                    epoch=epoch,
                    layer=layer[0],
                )
            data = total
            if self.data_prog is not None:
                data = float(np.mean(self.data_prog.forward(*cols)))
            outs = None
            if self.kind in ("hinge", "bce", "cross_entropy"):
                xcols = cols[: len(self.xcols)]
                outs = np.stack(
                    [np.asarray(p.forward(*xcols), dtype=float) for p in self.out_progs]
                )
        correct: int | None = None
        if outs is not None:
            correct = sum(
                1 for i, t in enumerate(self.ys[lo:hi]) if _correct(self.kind, outs[:, i], t)
            )
        return total, data, correct
