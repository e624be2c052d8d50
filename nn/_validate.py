"""The argument checks every ``nn`` module shares, so that one kind of bad input gets one message.

Each takes ``who`` (the function or class being called, e.g. ``"SGD"`` or ``"fit"``) and the
argument's name, and raises ``TypeError`` for the wrong kind of value and ``ValueError`` for a
value out of range. ``bool`` is refused where a number is meant (``True`` is an ``int`` in
Python, but ``lr=True`` is a mistake), and so is a ``Value`` (a graph node is no hyperparameter).
File paths are checked by :func:`autograd.io.check_path`, the one check of every writer.
"""

from __future__ import annotations

import math
import numbers

from autograd import Value

__all__ = ["finite_float", "nonnegative", "positive_int", "real"]


def real(x: object, name: str, who: str) -> float:
    """``x`` as a float if it is a real number (not bool, not a Value), else ``TypeError``."""
    if isinstance(x, bool) or not isinstance(x, numbers.Real) or isinstance(x, Value):
        raise TypeError(f"{who}: {name} must be a real number, got {type(x).__name__}: {x!r}")
    try:
        return float(x)
    except OverflowError:
        raise ValueError(f"{who}: {name} = {x!r} does not fit a float") from None


def nonnegative(x: object, name: str, who: str, *, upper: float | None = None) -> float:
    """``x`` as a float in [0, upper) (or [0, inf) without ``upper``), else a clear error."""
    f = real(x, name, who)
    if not math.isfinite(f) or f < 0.0 or (upper is not None and f >= upper):
        bound = f"in [0, {upper})" if upper is not None else ">= 0 and finite"
        raise ValueError(f"{who}: invalid {name} {x!r}: must be {bound}")
    return f


def finite_float(x: object, name: str, who: str) -> float:
    """``x`` as a finite float (a real number, not bool), else an error naming ``name``."""
    f = real(x, repr(name), who)
    if not math.isfinite(f):
        raise ValueError(f"{who}: {name!r} must be finite, got {f!r}")
    return f


def positive_int(n: object, what: str) -> int:
    """``n`` as an int >= 1 (``what`` names the caller and the argument: ``"MLP: nin"``)."""
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or int(n) < 1:
        raise ValueError(f"{what} must be a positive int, got {n!r}")
    return int(n)
