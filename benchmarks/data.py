"""The shared inputs of every benchmark: the moons data set and the initial weights.

Every engine of a workload starts from exactly these numbers (plain Python floats), so that
each engine's loss can be checked against micrograd's before its time counts.
"""

from __future__ import annotations

import itertools
import math
import random

__all__ = ["LAYERS", "MoonsProblem", "init_weights", "learning_rate", "make_moons", "problem"]

#: micrograd's demo network: 2 inputs, two hidden layers of 16 relu units, one linear output.
LAYERS: tuple[int, ...] = (2, 16, 16, 1)
#: The L2 coefficient of micrograd's demo loss.
ALPHA = 1e-4

Weights = list[tuple[list[list[float]], list[float]]]


def _own_moons(n_samples: int, noise: float, seed: int) -> tuple[list[list[float]], list[int]]:
    # sklearn.datasets.make_moons, with Python's random in place of numpy's generator.
    rng = random.Random(seed)
    n_out = n_samples // 2
    n_in = n_samples - n_out
    xs: list[list[float]] = []
    for i in range(n_out):
        t = math.pi * i / (n_out - 1) if n_out > 1 else 0.0
        xs.append([math.cos(t), math.sin(t)])
    for i in range(n_in):
        t = math.pi * i / (n_in - 1) if n_in > 1 else 0.0
        xs.append([1.0 - math.cos(t), 1.0 - math.sin(t) - 0.5])
    ys = [0] * n_out + [1] * n_in
    idx = list(range(n_samples))
    rng.shuffle(idx)
    xs = [[x + rng.gauss(0.0, noise) for x in xs[i]] for i in idx]
    ys = [ys[i] for i in idx]
    return xs, ys


def make_moons(
    n_samples: int = 100, noise: float = 0.1, seed: int = 1337
) -> tuple[list[list[float]], list[float]]:
    """Two interleaved half circles; labels are -1.0 / +1.0 (micrograd's hinge-loss demo).

    Uses ``nn.data.make_moons`` when the nn package provides it, else an own copy of
    sklearn's construction. Either way every engine of one run gets the same floats.
    """
    xs: list[list[float]] | None = None
    ys: list[int] | None = None
    try:
        from nn import data as nn_data  # type: ignore[attr-defined]

        got = nn_data.make_moons(n_samples, noise=noise, seed=seed)
        gx, gy = got[0], got[1]
        xs = [[float(a) for a in row] for row in gx]
        ys = [round(float(v)) for v in gy]
    except Exception:  # not there yet, or another signature: use our own copy
        xs = None
    if xs is None or ys is None:
        xs, ys = _own_moons(n_samples, noise, seed)
    # labels {0, 1} -> {-1, +1}; labels already in {-1, +1} stay as they are
    zero_one = all(v in (0, 1) for v in ys)
    labels = [float(2 * v - 1) if zero_one else float(v) for v in ys]
    return xs, labels


def init_weights(seed: int = 1337, layers: tuple[int, ...] = LAYERS) -> Weights:
    """micrograd's initialisation: w ~ U(-1, 1), b = 0; as [(W[j][i], b[j]) per layer]."""
    rng = random.Random(seed)
    out: Weights = []
    for nin, nout in itertools.pairwise(layers):
        w = [[rng.uniform(-1.0, 1.0) for _ in range(nin)] for _ in range(nout)]
        out.append((w, [0.0] * nout))
    return out


def learning_rate(k: int) -> float:
    """micrograd's demo schedule: 1.0 - 0.9 k / 100 at step k."""
    return 1.0 - 0.9 * k / 100


class MoonsProblem:
    """The data and initial weights of one moons run."""

    def __init__(self, n_samples: int = 100, seed: int = 1337) -> None:
        self.xs, self.ys = make_moons(n_samples, seed=seed)
        self.weights = init_weights(seed)
        self.alpha = ALPHA


def problem(n_samples: int = 100, seed: int = 1337) -> MoonsProblem:
    return MoonsProblem(n_samples, seed)
