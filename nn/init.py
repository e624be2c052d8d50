"""Weight initialisation schemes, by name or as functions.

Every scheme has the same signature, so a user-written one drops in beside them::

    scheme(fan_in, fan_out, size, rng) -> list[float]   # ``size`` draws from Generator rng

``fan_in`` is the number of inputs of the layer, ``fan_out`` its number of neurons (a standalone
neuron has fan_out 1). Called directly, ``size`` defaults to fan_in * fan_out (a whole layer)
and ``rng`` may also be a seed or ``None``. ``Neuron``, ``Layer`` and ``MLP`` accept a scheme
by name (the keys of :data:`SCHEMES`) or any callable of that signature. Biases always start
at 0.

=================  ==============================  =========================
name               distribution                    variance
=================  ==============================  =========================
``uniform``        U(-1, 1) (micrograd's)          1/3
``xavier_uniform`` U(-a, a), a = √(6/(in+out))     2/(fan_in + fan_out)
``xavier_normal``  N(0, 2/(in+out))                2/(fan_in + fan_out)
``he_uniform``     U(-a, a), a = √(6/in)           2/fan_in
``he_normal``      N(0, 2/in)                      2/fan_in
``zeros``          0                               0
=================  ==============================  =========================
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ._validate import positive_int

__all__ = [
    "SCHEMES",
    "InitFn",
    "get",
    "he_normal",
    "he_uniform",
    "uniform",
    "xavier_normal",
    "xavier_uniform",
    "zeros",
]

#: ``scheme(fan_in, fan_out, size, rng) -> sequence of size floats``.
InitFn = Callable[[int, int, int, np.random.Generator], Sequence[float]]


Rng = np.random.Generator | int | None


def _prepare(
    fan_in: int, fan_out: int, size: int | None, rng: Rng, scheme: str
) -> tuple[int, np.random.Generator]:
    """Check the fans and size; return the size and a Generator."""
    fan_in = positive_int(fan_in, f"init.{scheme}: fan_in")
    fan_out = positive_int(fan_out, f"init.{scheme}: fan_out")
    if size is None:
        size = fan_in * fan_out
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError(f"init.{scheme}: size must be an int >= 0, got {size!r}")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    return size, gen


def uniform(fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None) -> list[float]:
    """w ~ U(-1, 1), micrograd's initialisation; variance 1/3 whatever the fans.

    Args:
        fan_in: Inputs of the layer (checked, not used).
        fan_out: Neurons of the layer (checked, not used).
        size: Number of weights to draw (default: fan_in * fan_out, a whole layer).
        rng: A numpy Generator, a seed, or ``None`` for fresh randomness.

    Returns:
        ``size`` floats.
    """
    size, gen = _prepare(fan_in, fan_out, size, rng, "uniform")
    return [float(v) for v in gen.uniform(-1.0, 1.0, size)]


def xavier_uniform(
    fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None
) -> list[float]:
    """w ~ U(-a, a) with a = √(6 / (fan_in + fan_out)): variance 2 / (fan_in + fan_out).

    Args:
        fan_in: Inputs of the layer.
        fan_out: Neurons of the layer.
        size: Number of weights to draw (default: fan_in * fan_out, a whole layer).
        rng: A numpy Generator, a seed, or ``None`` for fresh randomness.

    Returns:
        ``size`` floats.
    """
    size, gen = _prepare(fan_in, fan_out, size, rng, "xavier_uniform")
    a = math.sqrt(6.0 / (fan_in + fan_out))
    return [float(v) for v in gen.uniform(-a, a, size)]


def xavier_normal(
    fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None
) -> list[float]:
    """w ~ N(0, σ²) with σ² = 2 / (fan_in + fan_out).

    Args:
        fan_in: Inputs of the layer.
        fan_out: Neurons of the layer.
        size: Number of weights to draw (default: fan_in * fan_out, a whole layer).
        rng: A numpy Generator, a seed, or ``None`` for fresh randomness.

    Returns:
        ``size`` floats.
    """
    size, gen = _prepare(fan_in, fan_out, size, rng, "xavier_normal")
    std = math.sqrt(2.0 / (fan_in + fan_out))
    return [float(v) for v in gen.normal(0.0, std, size)]


def he_uniform(fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None) -> list[float]:
    """w ~ U(-a, a) with a = √(6 / fan_in): variance 2 / fan_in (Kaiming, for ReLU).

    Args:
        fan_in: Inputs of the layer.
        fan_out: Neurons of the layer (checked, not used).
        size: Number of weights to draw (default: fan_in * fan_out, a whole layer).
        rng: A numpy Generator, a seed, or ``None`` for fresh randomness.

    Returns:
        ``size`` floats.
    """
    size, gen = _prepare(fan_in, fan_out, size, rng, "he_uniform")
    a = math.sqrt(6.0 / fan_in)
    return [float(v) for v in gen.uniform(-a, a, size)]


def he_normal(fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None) -> list[float]:
    """w ~ N(0, σ²) with σ² = 2 / fan_in (Kaiming, for ReLU).

    Args:
        fan_in: Inputs of the layer.
        fan_out: Neurons of the layer (checked, not used).
        size: Number of weights to draw (default: fan_in * fan_out, a whole layer).
        rng: A numpy Generator, a seed, or ``None`` for fresh randomness.

    Returns:
        ``size`` floats.
    """
    size, gen = _prepare(fan_in, fan_out, size, rng, "he_normal")
    std = math.sqrt(2.0 / fan_in)
    return [float(v) for v in gen.normal(0.0, std, size)]


def zeros(fan_in: int, fan_out: int, size: int | None = None, rng: Rng = None) -> list[float]:
    """w = 0 (draws nothing, so the generator's stream is left as it was).

    Args:
        fan_in: Inputs of the layer (checked, not used).
        fan_out: Neurons of the layer (checked, not used).
        size: Number of weights (default: fan_in * fan_out).
        rng: Unused.

    Returns:
        ``size`` zeros.
    """
    size, _ = _prepare(fan_in, fan_out, size, rng, "zeros")
    return [0.0] * size


#: The schemes accepted by name in ``Neuron``, ``Layer`` and ``MLP``.
SCHEMES: dict[str, InitFn] = {
    "uniform": uniform,
    "xavier_uniform": xavier_uniform,
    "xavier_normal": xavier_normal,
    "he_uniform": he_uniform,
    "he_normal": he_normal,
    "zeros": zeros,
}


def get(init: str | InitFn) -> InitFn:
    """The scheme named ``init`` (a key of :data:`SCHEMES`), or ``init`` itself if callable.

    Args:
        init: A scheme name or a callable ``(fan_in, fan_out, size, rng) -> floats``.

    Returns:
        The callable.

    Raises:
        ValueError: An unknown name (the message lists the known ones).
        TypeError: Neither a str nor a callable.
    """
    if isinstance(init, str):
        fn = SCHEMES.get(init)
        if fn is None:
            known = ", ".join(repr(k) for k in SCHEMES)
            raise ValueError(f"unknown init {init!r}; expected one of {known} or a callable")
        return fn
    if callable(init):
        return init
    raise TypeError(f"init must be a scheme name or a callable, got {type(init).__name__}")
