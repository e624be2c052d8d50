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
import numbers
import sys
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import autograd
from autograd import Value

from ._validate import nonnegative
from .losses import LOSS_ALIASES, LOSSES, Loss, get_loss
from .module import Module

__all__ = ["DEFAULT_LR", "LOSSES", "LOSS_ALIASES", "History", "TrainingDivergedError", "fit"]

#: Learning rate of the SGD optimizer :func:`fit` makes when none is given (micrograd's moons
#: demo starts at 1.0 and decays to 0.1; 0.1 is safe for the built-in losses on unit-scale data).
DEFAULT_LR = 0.1

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


def _as_float_rows(X: object) -> list[list[float]]:
    if isinstance(X, (str, bytes)) or not isinstance(X, Iterable):
        raise TypeError(
            f"fit: X must be a sequence of samples (a list of lists or a 2-D array), "
            f"got {type(X).__name__}: {X!r:.60}"
        )
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


def _targets(row: Loss, y: object, n: int) -> list[Any]:
    """``y`` checked and encoded by the loss's row (errors name ``y[i]``)."""
    if isinstance(y, (str, bytes)) or not isinstance(y, Iterable):
        raise TypeError(
            f"fit: y must be a sequence of targets (one per sample of X), "
            f"got {type(y).__name__}: {y!r:.60}"
        )
    ys = list(y)
    if len(ys) != n:
        raise ValueError(f"fit: X has {n} samples but y has {len(ys)}")
    return [row.encode(t, i) for i, t in enumerate(ys)]


def _call(model: Module, x: Any) -> Any:
    """``model(x)``: every concrete Module (Neuron, Layer, MLP, yours) defines ``__call__``."""
    return model(x)  # type: ignore[operator]


def _outputs(out: Any) -> list[Value]:
    """A model's output as a list of Values (micrograd returns a bare Value for one output)."""
    if isinstance(out, Value):
        return [out]
    return list(out)


def _count_correct(row: Loss, outs: Sequence[Sequence[float]], ys: list[Any]) -> int | None:
    """How many samples the row's accuracy rule counts as right (``None``: no accuracy)."""
    rule = row.correct
    if rule is None:
        return None
    return sum(1 for o, t in zip(outs, ys) if rule(o, t))


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


def _nonfinite_layers(model: Module) -> list[str]:
    bad: list[str] = []
    for name, p in model.named_parameters():
        if not math.isfinite(p.data):
            layer = _layer_of(name)
            if layer not in bad:
                bad.append(layer)
    return bad


def _first_nonfinite_node(root: Value) -> Value | None:
    graph = autograd.Graph(root)
    i = graph.first_nonfinite()
    return None if i is None else graph.nodes[i]


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
# Arguments


def _check_model(model: object) -> None:
    if not isinstance(model, Module):
        raise TypeError(
            f"fit: model must be an nn.Module (e.g. nn.MLP), got {type(model).__name__}: "
            f"{model!r:.60}"
        )
    if not model.parameters():
        raise ValueError(f"fit: the model {model!r:.60} has no parameters to train")


def _check_optimizer(optimizer: object, model: Module) -> None:
    missing = [
        what
        for what, ok in (
            ("zero_grad()", callable(getattr(optimizer, "zero_grad", None))),
            ("step()", callable(getattr(optimizer, "step", None))),
            ("lr", hasattr(optimizer, "lr")),
        )
        if not ok
    ]
    if missing:
        raise TypeError(
            f"fit: optimizer must have zero_grad(), step() and an assignable lr (like nn.SGD "
            f"or nn.Adam); {type(optimizer).__name__} has no {', '.join(missing)}"
        )
    held = getattr(optimizer, "params", None)
    if isinstance(held, list):
        own = {id(p) for p in model.parameters()}
        if not any(id(p) in own for p in held):
            raise ValueError(
                "fit: the optimizer holds none of the model's parameters, so training would "
                "change nothing (was it made for another model? use "
                "nn.SGD(model.parameters(), lr=...))"
            )


def _callbacks(callbacks: object) -> list[Callback]:
    """The callbacks as a list: one callable is taken as ``[callable]`` (as Lightning's
    ``Trainer(callbacks=cb)``); anything else must be a sequence of callables."""
    if callable(callbacks):
        return [callbacks]
    if isinstance(callbacks, (str, bytes)) or not isinstance(callbacks, Iterable):
        raise TypeError(
            f"fit: callbacks must be a list of functions cb(epoch, history, model), got "
            f"{type(callbacks).__name__}: {callbacks!r:.60}"
        )
    cbs = list(callbacks)
    for i, cb in enumerate(cbs):
        if not callable(cb):
            raise TypeError(
                f"fit: callbacks[{i}] is not callable: {type(cb).__name__}: {cb!r:.60} "
                "(each is called as cb(epoch, history, model))"
            )
    return cbs


# ---------------------------------------------------------------------------------------------
# The loop


Step = Callable[[int, int, int], tuple[float, float, int | None]]


def _interpreted_step(
    model: Module,
    optimizer: Any,
    row: Loss,
    rows: list[list[float]],
    ys: list[Any],
    l1: float,
    l2: float,
) -> Step:
    """``step(epoch, lo, hi)``: the loss of batch ``rows[lo:hi]`` built as a graph, its
    gradients by ``backward()``; returns (objective, data loss, correct count or None)."""
    from . import l1_penalty, l2_penalty

    def step(epoch: int, lo: int, hi: int) -> tuple[float, float, int | None]:
        outs = [_outputs(_call(model, r)) for r in rows[lo:hi]]
        data = row.fn(row.preds(outs), row.targets(ys[lo:hi]))
        total = data
        if l1:
            total = total + l1_penalty(model, l1)
        if l2:
            total = total + l2_penalty(model, l2)
        _check_loss(model, total, epoch, ys[lo:hi], lo)
        optimizer.zero_grad()
        total.backward()
        correct = _count_correct(row, [[v.data for v in o] for o in outs], ys[lo:hi])
        return total.data, data.data, correct

    return step


def _fit_arguments(
    model: Module,
    X: Iterable[Any],
    y: Iterable[Any],
    loss: str | LossFn,
    optimizer: Any,
    epochs: int,
    batch_size: int | None,
    l1: float,
    l2: float,
    lr_schedule: Callable[[int], float] | None,
    callbacks: Sequence[Callback] | Callback,
) -> tuple[
    float, float, Loss, list[list[float]], list[Any], Any, list[Callback], list[tuple[int, int]]
]:
    """:func:`fit`'s arguments checked, in order, before anything changes: the penalties, the
    loss row, the rows of ``X``, the encoded targets, the optimizer, the callbacks and the
    batches."""
    from . import SGD

    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if batch_size is not None and (
        isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1
    ):
        raise ValueError(f"fit: batch_size must be an int >= 1 or None, got {batch_size!r}")
    l1 = nonnegative(l1, "l1", "fit")
    l2 = nonnegative(l2, "l2", "fit")
    _check_model(model)
    row = get_loss(loss)
    rows = _as_float_rows(X)
    n = len(rows)
    if n == 0:
        raise ValueError("fit: X is empty")
    ys = _targets(row, y, n)
    if optimizer is None:
        optimizer = SGD(model.parameters(), lr=DEFAULT_LR)
    _check_optimizer(optimizer, model)
    if lr_schedule is not None and not callable(lr_schedule):
        raise TypeError(
            f"fit: lr_schedule must be a function epoch -> lr, got "
            f"{type(lr_schedule).__name__}: {lr_schedule!r}"
        )
    cbs = _callbacks(callbacks)
    size = n if batch_size is None else min(batch_size, n)
    batches = [(s, min(s + size, n)) for s in range(0, n, size)]
    return l1, l2, row, rows, ys, optimizer, cbs, batches


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
    callbacks: Sequence[Callback] | Callback = (),
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
            returns ``True`` stops training after that epoch (``history.stopped_early``). A
            single callable is taken as ``[callable]`` (as Lightning's ``Trainer``).
        compiled: Build the per-sample graph once with ``autograd.compile`` and run every batch
            through the generated numpy code: same numbers, much faster. The loss must be a
            mean of per-sample terms (every built-in one is).

    Returns:
        A :class:`History` with one entry per completed epoch.

    Raises:
        TrainingDivergedError: The loss, or a weight after a step, is not finite; the message
            names the epoch and the layer, and the model keeps its last finite weights.
        TypeError: An argument of the wrong kind (``model`` no Module, ``y`` no sequence of
            numbers, ``optimizer`` without ``zero_grad``/``step``/``lr``, a callback or an
            ``lr_schedule`` that is not callable or returns no number); the message names it.
        ValueError: Unknown loss, mismatched ``X``/``y``, a target the loss cannot take (NaN
            or inf included: "NaN target"), bad ``epochs``/``batch_size``/``l1``/``l2``, an
            optimizer holding none of the model's parameters. Nothing is changed.
    """
    l1, l2, row, rows, ys, optimizer, cbs, batches = _fit_arguments(
        model, X, y, loss, optimizer, epochs, batch_size, l1, l2, lr_schedule, callbacks
    )
    n = len(rows)

    step: Step = (
        _CompiledStep(model, optimizer, row, rows, ys, l1, l2)
        if compiled
        else _interpreted_step(model, optimizer, row, rows, ys, l1, l2)
    )

    return _train(model, optimizer, step, batches, n, epochs, lr_schedule, cbs, progress)


def _train(
    model: Module,
    optimizer: Any,
    step: Step,
    batches: list[tuple[int, int]],
    n: int,
    epochs: int,
    lr_schedule: Callable[[int], float] | None,
    cbs: list[Callback],
    progress: bool,
) -> History:
    """The epochs of :func:`fit`: a step per batch, the epoch's record, the callbacks."""
    history = History()
    bar = _progress_bar(progress, epochs)
    try:
        for epoch in range(epochs):
            if lr_schedule is not None:
                optimizer.lr = nonnegative(lr_schedule(epoch), f"lr_schedule({epoch})", "fit")
            tot_sum = data_sum = 0.0
            n_correct: int | None = 0
            for lo, hi in batches:
                tot, dat, corr = _train_step(step, model, optimizer, epoch, lo, hi)
                w = hi - lo
                tot_sum += tot * w
                data_sum += dat * w
                n_correct = None if (corr is None or n_correct is None) else n_correct + corr
            _record_epoch(history, bar, epoch, n, tot_sum, data_sum, n_correct, optimizer, model)
            if any(cb(epoch, history, model) is True for cb in cbs):
                history.stopped_early = True
                break
    finally:
        if bar is not None:
            bar.close()
    return history


def _train_step(
    step: Step,
    model: Module,
    optimizer: Any,
    epoch: int,
    lo: int,
    hi: int,
) -> tuple[float, float, int | None]:
    """One batch: loss and gradients, then the optimizer's step; a step that makes a weight
    non-finite is undone and raises :class:`TrainingDivergedError`."""
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
    return tot, dat, corr


def _record_epoch(
    history: History,
    bar: Any,
    epoch: int,
    n: int,
    tot_sum: float,
    data_sum: float,
    n_correct: int | None,
    optimizer: Any,
    model: Module,
) -> None:
    """Append one epoch to ``history`` and move the progress bar."""
    from . import weight_stats

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


def _nan_target(ys: list[Any], lo: int) -> int | None:
    """The index in ``y`` of the first target of the batch holding a NaN or inf number."""
    for i, t in enumerate(ys):
        for v in t if isinstance(t, (list, tuple)) else [t]:
            x = v.data if isinstance(v, Value) else v
            if isinstance(x, numbers.Real) and not math.isfinite(x):
                return lo + i
    return None


def _check_loss(model: Module, total: Value, epoch: int, ys: list[Any], lo: int) -> None:
    """Raise :class:`TrainingDivergedError` if the loss is not finite, naming where it broke."""
    if math.isfinite(total.data):
        return
    k = _nan_target(ys, lo)
    if k is not None:  # a custom loss's targets are not checked up front
        raise ValueError(
            f"fit: loss = {total.data!r} at epoch {epoch} because target y[{k}] is "
            f"{ys[k - lo]!r}: targets must be finite (NaN target)"
        )
    bad = _nonfinite_layers(model)
    if bad:
        layer, why = bad[0], f"the weights of {', '.join(bad)} are non-finite"
    else:
        node = _first_nonfinite_node(total)
        where = node.scope if node is not None else ""
        site = autograd.creation_site(node) if node is not None else None
        made = f", created at {site}" if site is not None else ""
        if where:
            layer = _layer_of(where)
            label = f" ({node.label})" if node is not None and node.label else ""
            why = f"the first non-finite value is in {layer}: node {where}{label}{made}"
        else:
            layer = _largest_weight_layer(model)
            why = f"the loss overflowed{made}; the largest weights are in {layer}"
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
        row: Loss,
        rows: list[list[float]],
        ys: list[Any],
        l1: float,
        l2: float,
    ) -> None:
        import numpy as np

        from . import l1_penalty, l2_penalty

        self.row = row
        nin = len(rows[0])
        if any(len(r) != nin for r in rows):
            raise ValueError("fit: every sample of X must have the same length for compiled=True")
        xs = [Value(0.0, label=f"x{i}") for i in range(nin)]
        outs = _outputs(_call(model, xs))
        data, ts, tcols = row.compiled(row, outs, ys)
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
                k = _nan_target(self.ys[lo:hi], lo)
                if k is not None:  # a custom loss's targets are not checked up front
                    raise ValueError(
                        f"fit: loss = {total!r} at epoch {epoch} because target y[{k}] is "
                        f"{self.ys[k]!r}: targets must be finite (NaN target)"
                    )
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
            if self.row.correct is not None:
                xcols = cols[: len(self.xcols)]
                outs = np.stack(
                    [np.asarray(p.forward(*xcols), dtype=float) for p in self.out_progs]
                )
        correct = None if outs is None else _count_correct(self.row, outs.T, self.ys[lo:hi])
        return total, data, correct
