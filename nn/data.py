"""Toy 2-D data sets for classification demos (numpy only, no scikit-learn).

Each function returns ``(X, y)`` as plain Python lists: ``X`` a list of ``[x0, x1]`` floats,
``y`` a list of ints. Binary sets (``make_moons``, ``make_xor``) use labels ±1, ready for
``hinge_loss``; ``make_blobs`` uses class indices 0..k-1 (as scikit-learn), ready for
``cross_entropy_loss``. A seed makes a set reproducible; ``seed=None`` draws fresh randomness.
"""

from __future__ import annotations

import numbers

import numpy as np

from ._validate import nonnegative, positive_int

__all__ = ["make_blobs", "make_moons", "make_xor"]


def _lists(X: np.ndarray, y: np.ndarray) -> tuple[list[list[float]], list[int]]:
    return [[float(a), float(b)] for a, b in X], [int(v) for v in y]


def make_moons(
    n: int = 100, noise: float = 0.1, seed: int | None = 0, shuffle: bool = True
) -> tuple[list[list[float]], list[int]]:
    """Two interleaving half circles (scikit-learn's construction).

    The first ``n // 2`` points lie on the outer half circle (cos t, sin t), label -1; the
    other ``n - n // 2`` on the inner one (1 - cos t, 1/2 - sin t), label +1, with t evenly
    spaced in [0, π]. The points are shuffled, then Gaussian noise of std ``noise`` is added.

    Args:
        n: Number of points.
        noise: Standard deviation of the noise added to each coordinate.
        seed: Seed of the numpy Generator (``None``: fresh randomness).
        shuffle: Shuffle the points (otherwise outer moon first).

    Returns:
        ``(X, y)``: ``n`` points ``[x0, x1]`` and their labels ±1.
    """
    n = positive_int(n, "make_moons: n")
    noise = nonnegative(noise, "noise", "make_moons")
    rng = np.random.default_rng(seed)
    n_out = n // 2
    n_in = n - n_out
    t_out = np.linspace(0.0, np.pi, n_out)
    t_in = np.linspace(0.0, np.pi, n_in)
    X = np.column_stack(
        [
            np.concatenate([np.cos(t_out), 1.0 - np.cos(t_in)]),
            np.concatenate([np.sin(t_out), 1.0 - np.sin(t_in) - 0.5]),
        ]
    )
    y = np.concatenate([-np.ones(n_out, dtype=int), np.ones(n_in, dtype=int)])
    if shuffle:
        order = rng.permutation(n)
        X, y = X[order], y[order]
    if noise > 0.0:
        X = X + rng.normal(0.0, noise, X.shape)
    return _lists(X, y)


def make_blobs(
    n: int = 100,
    centers: int | list[list[float]] = 2,
    std: float = 1.0,
    seed: int | None = 0,
    box: tuple[float, float] = (-10.0, 10.0),
) -> tuple[list[list[float]], list[int]]:
    """Gaussian blobs around ``centers`` (scikit-learn's ``make_blobs`` in 2-D).

    Points are shared out as evenly as possible (the first ``n % k`` blobs get one more),
    drawn from N(center, std² I) and shuffled.

    Args:
        n: Number of points.
        centers: Number of blobs k (their centers drawn uniformly in ``box``²), or the list of
            their ``[x0, x1]`` centers.
        std: Standard deviation of each blob.
        seed: Seed of the numpy Generator (``None``: fresh randomness).
        box: Range of the random centers.

    Returns:
        ``(X, y)``: ``n`` points and their blob index in 0..k-1.
    """
    n = positive_int(n, "make_blobs: n")
    std = nonnegative(std, "std", "make_blobs")
    rng = np.random.default_rng(seed)
    if isinstance(centers, numbers.Integral) and not isinstance(centers, bool):
        k = int(centers)
        if k < 1:
            raise ValueError(f"make_blobs: centers must be >= 1, got {centers!r}")
        lo, hi = float(box[0]), float(box[1])
        if not lo < hi:
            raise ValueError(f"make_blobs: box must be (low, high) with low < high, got {box!r}")
        cs = rng.uniform(lo, hi, (k, 2))
    else:
        try:
            cs = np.asarray(centers, dtype=float)
        except (TypeError, ValueError):
            raise TypeError(
                f"make_blobs: centers must be an int or a list of [x0, x1], got {centers!r}"
            ) from None
        if cs.ndim != 2 or cs.shape[1] != 2 or len(cs) < 1 or not np.isfinite(cs).all():
            raise ValueError(
                f"make_blobs: centers must be a non-empty list of finite [x0, x1], got {centers!r}"
            )
        k = len(cs)
    sizes = [n // k + (1 if i < n % k else 0) for i in range(k)]
    X = np.concatenate([rng.normal(cs[i], std, (sizes[i], 2)) for i in range(k)])
    y = np.concatenate([np.full(sizes[i], i, dtype=int) for i in range(k)])
    order = rng.permutation(n)
    return _lists(X[order], y[order])


def make_xor(
    n: int = 100, noise: float = 0.1, seed: int | None = 0
) -> tuple[list[list[float]], list[int]]:
    """The XOR problem: points uniform in [-1, 1]², label +1 where the signs of x0 and x1
    differ (x0 > 0 XOR x1 > 0), else -1; then Gaussian noise of std ``noise`` is added.

    Labels come from the clean points, so with noise a few points cross the axes (as
    ``make_moons`` labels by construction, not by position).

    Args:
        n: Number of points.
        noise: Standard deviation of the noise added to each coordinate.
        seed: Seed of the numpy Generator (``None``: fresh randomness).

    Returns:
        ``(X, y)``: ``n`` points and their labels ±1.
    """
    n = positive_int(n, "make_xor: n")
    noise = nonnegative(noise, "noise", "make_xor")
    rng = np.random.default_rng(seed)
    X = rng.uniform(-1.0, 1.0, (n, 2))
    y = np.where(np.logical_xor(X[:, 0] > 0.0, X[:, 1] > 0.0), 1, -1)
    if noise > 0.0:
        X = X + rng.normal(0.0, noise, X.shape)
    return _lists(X, y)
