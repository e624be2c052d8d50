"""What type checkers see of :class:`~autograd.engine.Value`'s operators and methods.

They are installed from the op table at import time (by the engine, or the fast layer), so
this class declares them for mypy only; at run time Value does not inherit from it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Union

if TYPE_CHECKING:
    from .engine import Value

Operand = Union["Value", int, float]


class ValueOperators:
    def __add__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __radd__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __sub__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __rsub__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __mul__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __rmul__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __truediv__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __rtruediv__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __pow__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __rpow__(self, other: Operand) -> Value:
        raise NotImplementedError

    def __neg__(self) -> Value:
        raise NotImplementedError

    def __abs__(self) -> Value:
        raise NotImplementedError

    def exp(self) -> Value:
        raise NotImplementedError

    def log(self) -> Value:
        raise NotImplementedError

    def tanh(self) -> Value:
        raise NotImplementedError

    def sigmoid(self) -> Value:
        raise NotImplementedError

    def relu(self) -> Value:
        raise NotImplementedError

    def sqrt(self) -> Value:
        raise NotImplementedError

    def abs(self) -> Value:
        raise NotImplementedError

    def sin(self) -> Value:
        raise NotImplementedError

    def cos(self) -> Value:
        raise NotImplementedError

    def leaky_relu(self, slope: Operand = 0.01) -> Value:
        raise NotImplementedError
