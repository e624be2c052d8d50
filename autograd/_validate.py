"""Input checks shared by the engine and the tools: errors that name the op and the value."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Value
    from .ops import Op


def _real(x: object, what: str) -> float:
    """``x`` as a float if it is a real number, else ``TypeError`` naming ``what``."""
    if isinstance(x, numbers.Real):
        try:
            return float(x)
        except OverflowError:
            raise ValueError(f"{what}: {x!r} is too large for a float") from None
    raise TypeError(
        f"{what}: expected a real number (int, float or numpy real scalar), "
        f"got {type(x).__name__}: {x!r}"
    )


def _not_differentiable(root: Value) -> None:
    raise RuntimeError(
        f"backward: {root!r} does not require grad (a constant, or made only from constants "
        "or under no_grad): there is nothing to differentiate"
    )


def _error(op: Op, args: Sequence[float], err: Exception) -> Exception:
    shown = ", ".join(repr(a) for a in args)
    return type(err)(f"{op.name}({shown}): {err}")
