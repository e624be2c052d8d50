"""Plots of training: the history :func:`nn.fit` records and a 2-D decision boundary.

Needs matplotlib (``pip install deltagrad[plot]``). Importing ``nn`` never imports matplotlib;
each function imports it when called, selects the non-interactive Agg backend (no display
needed) and raises ``ImportError`` naming the extra when it is missing. Files are written
atomically: a temporary file in the same folder renamed over the target, so a failed plot never
leaves a half-written image. The format follows the suffix: ``.png``, ``.svg`` or ``.pdf``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import autograd
from autograd import Value

__all__ = ["YLABELS", "decision_boundary", "history", "weight_series"]

_FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
_STATS = ("sum", "l1", "l2")
_TITLES = {"sum": "weight sum  Σw", "l1": "L1  Σ|w|", "l2": "L2  Σw²"}
#: The y-axis label of each weight panel (one line per layer and the total).
YLABELS = {"sum": "Σ w", "l1": "Σ |w|", "l2": "Σ w²"}


def _pyplot() -> Any:
    """matplotlib.pyplot on the Agg backend, or an ImportError that names the extra."""
    try:
        import matplotlib
    except ImportError as e:
        raise ImportError(
            "nn.plot needs matplotlib: pip install deltagrad[plot] (or pip install matplotlib)"
        ) from e
    matplotlib.use("Agg", force=True)  # files only: never open a window or need a display
    import matplotlib.pyplot as plt

    return plt


def _target(path: str | os.PathLike[str]) -> tuple[Path, str]:
    p = Path(path)
    fmt = _FORMATS.get(p.suffix.lower())
    if fmt is None:
        known = ", ".join(_FORMATS)
        raise ValueError(f"nn.plot: cannot tell the format of {str(p)!r}; use a suffix in {known}")
    return p, fmt


def _save(fig: Any, path: Path, fmt: str) -> Path:
    """Render ``fig`` to bytes and write them with :func:`autograd.write_atomic`."""
    buf = io.BytesIO()
    fig.savefig(buf, format=fmt, bbox_inches="tight")
    autograd.write_atomic(path, buf.getvalue(), make_parents=True)
    return path


# ---------------------------------------------------------------------------------------------
# History


def _norm_key(key: str) -> str:
    return key.lower().replace("_", "").replace(" ", "")


def _pick(stats: dict[str, Any], stat: str) -> float | None:
    for k, v in stats.items():
        if isinstance(k, str) and _norm_key(k) == stat and isinstance(v, (int, float)):
            return float(v)
    return None


def _groups(stats: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """The (name, stats) groups of one ``weight_stats`` dict: each layer, then the total."""
    out: list[tuple[str, dict[str, Any]]] = []
    layers = stats.get("layers")
    if isinstance(layers, dict):
        out += [(str(k), v) for k, v in layers.items() if isinstance(v, dict)]
    elif isinstance(layers, (list, tuple)):
        out += [(f"layer{i}", v) for i, v in enumerate(layers) if isinstance(v, dict)]
    for k, v in stats.items():
        if k != "layers" and k != "total" and isinstance(v, dict) and _pick(v, "sum") is not None:
            out.append((str(k), v))
    total = stats.get("total")
    if isinstance(total, dict):
        out.append(("total", total))
    elif _pick(stats, "sum") is not None:  # a flat dict: the stats of the whole model
        out.append(("total", stats))
    return out


def weight_series(stats_per_epoch: Sequence[dict[str, Any]]) -> dict[str, dict[str, list[float]]]:
    """Turn a list of ``nn.weight_stats`` dicts into one series per stat and group.

    Args:
        stats_per_epoch: ``History.weight_stats``.

    Returns:
        ``{"sum": {"layer0": [...], ..., "total": [...]}, "l1": {...}, "l2": {...}}``, each list
        one float per epoch (``nan`` where a group or stat is missing).
    """
    names: list[str] = []
    for s in stats_per_epoch:
        for name, _ in _groups(s):
            if name not in names:
                names.append(name)
    series: dict[str, dict[str, list[float]]] = {st: {n: [] for n in names} for st in _STATS}
    for s in stats_per_epoch:
        got = dict(_groups(s))
        for st in _STATS:
            for n in names:
                v = _pick(got[n], st) if n in got else None
                series[st][n].append(math.nan if v is None else v)
    return series


def history(h: Any, path: str | os.PathLike[str], *, title: str | None = None) -> Path:
    """Plot a :class:`nn.History`: loss, accuracy, learning rate, and per layer (and in total)
    the weight sum, L1 and L2 over the epochs.

    Args:
        h: The history :func:`nn.fit` returned (or any object with the same lists).
        path: Output file; ``.png``, ``.svg`` or ``.pdf``.
        title: A title over the six panels, e.g. which run this is (default: none).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    p, fmt = _target(path)
    plt = _pyplot()
    epochs = list(h.epochs)
    fig, axes = plt.subplots(2, 3, figsize=(14, 7.5))
    try:
        ax = axes[0][0]
        ax.plot(epochs, list(h.loss), label="loss (with penalty)")
        data_loss = list(getattr(h, "data_loss", []) or [])
        if data_loss and data_loss != list(h.loss):
            ax.plot(epochs, data_loss, "--", label="data loss")
        ax.set_title("loss")
        ax.set_ylabel("loss")
        ax.legend(loc="best", fontsize="small")
        ax = axes[0][1]
        acc = [math.nan if a is None else a for a in h.accuracy]
        if any(not math.isnan(a) for a in acc):
            ax.plot(epochs, acc, color="tab:green")
            ax.set_ylim(-0.02, 1.02)
        else:
            ax.text(0.5, 0.5, "no accuracy\n(regression loss)", ha="center", va="center")
        ax.set_title("accuracy")
        ax.set_ylabel("fraction correct")
        ax = axes[0][2]
        ax.plot(epochs, list(getattr(h, "lr", [])) or [math.nan] * len(epochs), color="tab:gray")
        ax.set_title("learning rate")
        ax.set_ylabel("lr")
        series = weight_series(list(h.weight_stats))
        for ax, st in zip(axes[1], _STATS):
            for name, ys in series[st].items():
                style = {"color": "black", "linewidth": 2.0} if name == "total" else {}
                ax.plot(epochs, ys, label=name, **style)
            ax.set_title(_TITLES[st])
            ax.set_ylabel(YLABELS[st])
            if series[st]:
                ax.legend(loc="best", fontsize="small")
        for row in axes:
            for ax in row:
                ax.set_xlabel("epoch")
                ax.grid(alpha=0.3)
        if title is not None:
            fig.suptitle(title)
        fig.tight_layout()
        return _save(fig, p, fmt)
    finally:
        plt.close(fig)


# ---------------------------------------------------------------------------------------------
# Decision boundary


def _scorer(model: Any) -> Callable[[Any, Any], Any]:
    """A function (xs, ys) -> model outputs of shape (n_outputs, N) for grid columns.

    Uses ``autograd.compile`` (one numpy program for the whole grid); a model it rejects
    runs sample by sample without recording a graph.
    """
    import numpy as np

    try:
        ins = [Value(0.0, label="x0"), Value(0.0, label="x1")]
        out = model(ins)
        outs = [out] if isinstance(out, Value) else list(out)
        progs = [autograd.compile(o, ins) for o in outs]

        def compiled(xs: Any, ys: Any) -> Any:
            return np.stack([np.asarray(pr.forward(xs, ys), dtype=float) for pr in progs])

        return compiled
    except Exception:  # a graph the compiler rejects still plots, just slower
        pass

    def interpreted(xs: Any, ys: Any) -> Any:
        cols = []
        with autograd.no_grad():
            for a, b in zip(xs.tolist(), ys.tolist()):
                out = model([a, b])
                outs = [out] if isinstance(out, Value) else list(out)
                cols.append([o.data for o in outs])
        return np.asarray(cols, dtype=float).T

    return interpreted


def _class_name(c: int, labels: Any, binary: bool) -> str:
    """The legend entry of class ``c``: the label value as given (+-1 or 0/1, or the index)."""
    if not binary:
        return f"class {c}"
    values = sorted({float(v) for v in labels})
    if set(values) <= {0.0, 1.0}:
        return f"y = {c}"
    return "y = +1" if c else "y = -1"


def decision_boundary(
    model: Any,
    X: Iterable[Sequence[float]],
    y: Iterable[Any],
    path: str | os.PathLike[str],
    *,
    resolution: int = 100,
    title: str | None = None,
) -> Path:
    """Plot a 2-input classifier's decision regions with the data on top.

    One output: the regions are score > 0 and score <= 0 (hinge/bce scores), with the score's
    contour at 0 drawn. Several outputs: each point's region is the argmax class.

    Args:
        model: Maps ``[x0, x1]`` to a Value (a score) or a list of Values (class logits).
        X: The samples, pairs of numbers.
        y: Their labels (+-1, 0/1 or class indices), used for the colours.
        path: Output file; ``.png``, ``.svg`` or ``.pdf``.
        resolution: Grid points per axis.
        title: Figure title (default: the training accuracy on ``X``).

    Returns:
        ``path`` as a :class:`~pathlib.Path`.
    """
    import numpy as np

    p, fmt = _target(path)
    pts = np.asarray([[float(a) for a in row] for row in X], dtype=float)
    labels = np.asarray([float(t) for t in y], dtype=float)
    if pts.ndim != 2 or pts.shape[1] != 2:
        raise ValueError(
            f"decision_boundary: X must be a list of 2-D points, got shape {pts.shape}"
        )
    if len(labels) != len(pts):
        raise ValueError(f"decision_boundary: X has {len(pts)} points but y has {len(labels)}")
    if resolution < 2:
        raise ValueError(f"decision_boundary: resolution must be >= 2, got {resolution}")
    plt = _pyplot()
    lo = pts.min(axis=0) - 0.5
    hi = pts.max(axis=0) + 0.5
    gx, gy = np.meshgrid(
        np.linspace(lo[0], hi[0], resolution), np.linspace(lo[1], hi[1], resolution)
    )
    score = _scorer(model)
    grid = score(gx.ravel(), gy.ravel())
    at_points = score(pts[:, 0], pts[:, 1])
    binary = grid.shape[0] == 1
    if binary:
        z = (grid[0] > 0).astype(float).reshape(gx.shape)
        pred = at_points[0] > 0
        truth = labels > (0.5 if set(np.unique(labels)) <= {0.0, 1.0} else 0.0)
    else:
        z = grid.argmax(axis=0).astype(float).reshape(gx.shape)
        pred = at_points.argmax(axis=0)
        truth = labels.astype(int)
    accuracy = float(np.mean(pred == truth))
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    try:
        # Regions and points share one colour per class: class k is value k of the colormap.
        k = max(2, grid.shape[0], int(truth.max()) + 1)
        cmap = "RdBu" if k == 2 else "tab10"
        levels = np.arange(-0.5, k, 1.0)
        ax.contourf(gx, gy, z, levels=levels, cmap=cmap, vmin=-0.5, vmax=k - 0.5, alpha=0.35)
        if binary:
            ax.contour(gx, gy, grid[0].reshape(gx.shape), levels=[0.0], colors="black")
        colors = plt.get_cmap(cmap)
        for c in sorted({int(v) for v in truth.astype(int)}):
            mask = truth.astype(int) == c
            ax.scatter(
                pts[mask, 0], pts[mask, 1], color=colors((c + 0.5) / k), s=28,
                edgecolors="black", label=_class_name(c, labels, binary),
            )  # fmt: skip
        if binary:
            ax.plot([], [], color="black", label="boundary: score = 0")
        ax.legend(loc="best", fontsize="small", title="class (y)")
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel("x0")
        ax.set_ylabel("x1")
        ax.set_title(title if title is not None else f"decision boundary (accuracy {accuracy:.1%})")
        fig.tight_layout()
        return _save(fig, p, fmt)
    finally:
        plt.close(fig)
