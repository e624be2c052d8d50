"""Anomaly mode: find where a NaN or an inf was born, forward or backward.

``with autograd.detect_anomaly():`` (or ``autograd.set_detect_anomaly(True)``) turns it on in
this thread. While on:

* every new node records where it was created: the file, line and function of the first
  frame outside the ``autograd`` and ``nn`` packages (the user's code), and its scope;
* forward: an op that returns NaN or inf from finite inputs raises :class:`AnomalyError`
  naming the op, its inputs, the node's label and scope, and the creation site;
* backward: a contribution ``g * partial`` that is NaN or inf while ``g`` is finite raises
  :class:`AnomalyError` naming the node, the op, the partial, its creation site and the route
  from the root to it, and leaves every ``.grad`` as it was.

Off, it costs one thread-local read per backward pass and nothing per node. Sites live in a
side table of weak references, only for nodes made while it is on.
"""

from __future__ import annotations

import math
import sys
import weakref
from contextlib import ContextDecorator
from dataclasses import dataclass
from typing import Any

from .context import _anomaly_checks, _enter, _state
from .engine import Value, _inputs

__all__ = ["AnomalyError", "Site", "creation_site", "detect_anomaly", "set_detect_anomaly"]

_sites: weakref.WeakKeyDictionary[Value, Site] = weakref.WeakKeyDictionary()


class AnomalyError(ArithmeticError):
    """A NaN or an inf appeared where its inputs were finite (anomaly mode)."""


@dataclass(frozen=True)
class Site:
    """Where a node was created: the user's file, line and function, and the scope."""

    file: str
    line: int
    function: str
    scope: str

    def __str__(self) -> str:
        where = f" in scope {self.scope!r}" if self.scope else ""
        return f'File "{self.file}", line {self.line}, in {self.function}{where}'


def creation_site(v: Value) -> Site | None:
    """Where ``v`` was created, if anomaly mode was on then; else ``None``."""
    return _sites.get(v)


def _ours(module: str) -> bool:
    """Code of ``autograd`` or ``nn``, including the fast layer's generated methods."""
    return module.partition(".")[0] in ("autograd", "nn")


def _user_frame() -> Site:
    f: Any = sys._getframe(1)
    while f is not None and _ours(str(f.f_globals.get("__name__", ""))):
        f = f.f_back
    if f is None:
        return Site("<unknown>", 0, "<unknown>", _state.meta[1])
    return Site(f.f_code.co_filename, f.f_lineno, f.f_code.co_name, _state.meta[1])


def _describe(v: Value) -> str:
    lab = f" {v.label!r}" if v.label else ""
    scope = f" in scope {v.scope!r}" if v.scope else ""
    return f"{v.op} node{lab}{scope}"


def _data(x: Any) -> float:
    return x if type(x) is float else float(x.data)


def _check_node(v: Value) -> None:
    site = _user_frame()
    _sites[v] = site
    xs = [_data(x) for x in _inputs(v)]
    if not math.isfinite(v.data) and all(math.isfinite(x) for x in xs):
        shown = ", ".join(repr(x) for x in xs)
        raise AnomalyError(
            f"anomaly in forward: {v.op}({shown}) = {v.data!r} from finite inputs, "
            f"at the {_describe(v)} created here:\n  {site}"
        )


def _route(root: Value, node: Value) -> str:
    from .graph import Graph  # the graph is walked only to report the error

    g = Graph(root)
    if node not in g:
        return ""
    i = g.index(node)
    names = [g.name(i)]
    while i != len(g) - 1:
        i = g.consumers[i][0][0]
        names.append(g.name(i))
    return "\n  route from the root: " + " <- ".join(reversed(names))


def _check_contribution(root: Value, node: Value, x: Any, c: float, g: float) -> None:
    if math.isfinite(c) or not math.isfinite(g):
        return
    row = node.op_info
    assert row is not None
    pos = next(k for k, p in enumerate(_inputs(node)) if p is x)
    xs = [_data(p) for p in _inputs(node)]
    try:
        partial: float | str = row.partials(*xs, node.data)[pos]
    except (ArithmeticError, ValueError) as e:
        partial = f"error: {e}"
    site = creation_site(node)
    made = f"\n  created here: {site}" if site is not None else ""
    raise AnomalyError(
        f"anomaly in backward: the gradient sent to input {pos} of the {_describe(node)} "
        f"is {c!r} (dL/d{row.name} = {g!r} times partial d/dx{pos} = {partial!r}, "
        f"inputs {xs}){made}{_route(root, node)}"
    )


_anomaly_checks["node"] = _check_node
_anomaly_checks["contribution"] = _check_contribution


def set_detect_anomaly(enabled: bool) -> None:
    """Turn anomaly mode on or off in this thread (as ``torch.autograd.set_detect_anomaly``)."""
    if not isinstance(enabled, bool):
        raise TypeError(f"set_detect_anomaly: expected True or False, got {enabled!r}")
    if enabled != _state.anomaly:
        _state.anomaly = enabled
        _enter(1 if enabled else -1)  # new nodes then take the path that checks them


class detect_anomaly(ContextDecorator):  # PyTorch's name for the context manager
    """Anomaly mode inside a ``with`` block (or a decorated function), in this thread."""

    def __init__(self) -> None:
        self._prev: list[bool] = []

    def __enter__(self) -> detect_anomaly:
        self._prev.append(_state.anomaly)
        set_detect_anomaly(True)
        return self

    def __exit__(self, *exc: object) -> None:
        set_detect_anomaly(self._prev.pop())
