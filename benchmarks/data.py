"""The shared inputs of every benchmark: the moons data set and the initial weights.

Every engine of a workload starts from exactly these numbers (plain Python floats), so that
each engine's loss can be checked against micrograd's before its time counts.
"""

from __future__ import annotations

import itertools
import random

__all__ = ["LAYERS", "MoonsProblem", "init_weights", "learning_rate", "make_moons", "problem"]

#: micrograd's demo network: 2 inputs, two hidden layers of 16 relu units, one linear output.
LAYERS: tuple[int, ...] = (2, 16, 16, 1)
#: The L2 coefficient of micrograd's demo loss.
ALPHA = 1e-4

Weights = list[tuple[list[list[float]], list[float]]]


def make_moons(
    n_samples: int = 100, noise: float = 0.1, seed: int = 1337
) -> tuple[list[list[float]], list[float]]:
    """``nn.data.make_moons`` as plain floats: points and labels -1.0 / +1.0 (micrograd's
    hinge-loss demo). Every engine of one run gets the same floats."""
    from nn import data as nn_data

    xs, ys = nn_data.make_moons(n_samples, noise=noise, seed=seed)
    return [[float(a) for a in row] for row in xs], [float(v) for v in ys]


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
