"""The recording context: whether operations record a graph, and the scope they are made in.

Per thread. ``no_grad`` / ``enable_grad`` switch recording off and on (as in PyTorch);
``scope(name)`` tags every node made inside with a dotted path (``nn`` uses one per layer and
neuron, and drawings group nodes by it).
"""

from __future__ import annotations

import gc
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, ContextDecorator, contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Value

__all__ = ["current_scope", "enable_grad", "is_grad_enabled", "no_grad", "scope"]

_NO_META: tuple[str, str] = ("", "")


class _ThreadState(threading.local):
    """What recording means in this thread: on or off (no_grad), and the scope path."""

    def __init__(self) -> None:
        self.grad_enabled = True
        self.meta: tuple[str, str] = _NO_META  # (label, scope) given to new nodes
        self.depth = 0  # nesting depth of recording contexts in this thread
        # The root of this thread's last backward pass, held weakly so that
        # explain_grad(value) can find the graph that value.grad came from.
        self.last_root: weakref.ref[Value] | None = None
        self.anomaly = False  # detect_anomaly() is on in this thread


#: The checks autograd.anomaly installs, run while anomaly mode is on: ``node(v)`` for each
#: new node, ``contribution(root, node, input, c, g)`` for each gradient contribution.
_anomaly_checks: dict[str, Callable[..., None]] = {}


_state = _ThreadState()
#: Called with +1 / -1 when a thread enters its outermost recording context / leaves it
#: (the fast layer counts them to skip the thread-local lookup while no thread has one).
_context_listeners: list[Callable[[int], None]] = []


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The cycle collector off while a graph is walked: a walk makes nothing cyclic, and each
    collection would visit every node of a 10^6-node graph again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _enter(delta: int) -> None:
    """Count this thread's recording contexts; tell listeners of its outermost one."""
    st = _state
    st.depth += delta
    if st.depth == (1 if delta > 0 else 0):
        for listener in _context_listeners:
            listener(delta)


@contextmanager
def _grad_mode(enabled: bool) -> Iterator[None]:
    st = _state
    prev = st.grad_enabled
    st.grad_enabled = enabled
    _enter(1)
    try:
        yield
    finally:
        st.grad_enabled = prev
        _enter(-1)


def no_grad() -> AbstractContextManager[None]:
    """Inside, operations record nothing: each result is a leaf with ``requires_grad=False``.
    Per thread; also usable as a decorator, like ``torch.no_grad``."""
    return _grad_mode(False)


def enable_grad() -> AbstractContextManager[None]:
    """Turn recording back on inside a :func:`no_grad` block (as ``torch.enable_grad``)."""
    return _grad_mode(True)


def is_grad_enabled() -> bool:
    """Whether operations in this thread record the graph."""
    return bool(_state.grad_enabled)


class _Scope(ContextDecorator):
    """What :func:`scope` returns: a class, not a generator, since ``nn`` enters one per
    neuron call and this costs a third of ``@contextmanager``'s enter/exit."""

    __slots__ = ("_name", "_prev")

    def __init__(self, name: str) -> None:
        self._name = name
        self._prev: tuple[str, str] | None = None

    def _recreate_cm(self) -> _Scope:
        return _Scope(self._name)  # used as a decorator: a fresh one per call (recursion)

    def __enter__(self) -> str:
        if self._prev is not None:
            raise RuntimeError(f"scope({self._name!r}) is already entered")
        prev = self._prev = _state.meta
        path = f"{prev[1]}.{self._name}" if prev[1] else self._name
        _state.meta = ("", path)
        _enter(1)
        return path

    def __exit__(self, *exc: object) -> None:
        _state.meta = self._prev  # type: ignore[assignment]
        self._prev = None
        _enter(-1)


def scope(name: str) -> _Scope:
    """Tag every Value created inside with the scope path (nested scopes join with dots).

    ``nn`` runs each neuron inside nested scopes, so that renderers can group nodes by layer
    and neuron. ``with scope(name) as path`` gives the full path. Per thread.
    """
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"scope: name must be a non-empty str, got {name!r}")
    return _Scope(name)


def current_scope() -> str:
    """The scope path in force in this thread (``""`` outside any scope)."""
    return str(_state.meta[1])
