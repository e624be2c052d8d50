"""Toy data: moons geometry (scikit-learn's layout), blobs and XOR labels, seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn


@given(n=st.integers(1, 300))
def test_noiseless_moons_lie_on_the_two_half_circles(n: int) -> None:
    X, y = nn.data.make_moons(n=n, noise=0.0, seed=0)
    assert len(X) == len(y) == n
    assert y.count(-1) == n // 2 and y.count(1) == n - n // 2
    for (x0, x1), label in zip(X, y):
        if label == -1:  # outer: (cos t, sin t)
            assert math.isclose(math.hypot(x0, x1), 1.0, abs_tol=1e-12) and x1 >= -1e-12
        else:  # inner: (1 - cos t, 1/2 - sin t)
            assert math.isclose(math.hypot(x0 - 1.0, x1 - 0.5), 1.0, abs_tol=1e-12)
            assert x1 <= 0.5 + 1e-12


def test_moons_without_shuffle_put_the_outer_moon_first_from_t_zero() -> None:
    X, y = nn.data.make_moons(n=5, noise=0.0, shuffle=False)
    assert y == [-1, -1, 1, 1, 1]
    assert X[0] == [1.0, 0.0]  # t = 0 on the outer circle
    assert X[1][0] == pytest.approx(-1.0) and X[1][1] == pytest.approx(0.0, abs=1e-15)
    assert X[2] == [0.0, 0.5]  # t = 0 on the inner circle


def test_moons_noise_has_the_requested_spread() -> None:
    clean, _ = nn.data.make_moons(n=4000, noise=0.0, seed=1)
    noisy, _ = nn.data.make_moons(n=4000, noise=0.1, seed=1)
    d = np.array(noisy) - np.array(clean)
    assert abs(d.std() - 0.1) < 0.005
    assert all(type(v) is float for row in noisy for v in row)


def test_seeds_reproduce_and_differ() -> None:
    for fn in (nn.data.make_moons, nn.data.make_xor, nn.data.make_blobs):
        assert fn(n=20, seed=3) == fn(n=20, seed=3)
        assert fn(n=20, seed=3) != fn(n=20, seed=4)
        assert fn(n=20, seed=None) != fn(n=20, seed=None)


def test_default_moons_are_micrograds_hundred_points() -> None:
    X, y = nn.data.make_moons()
    assert len(X) == 100 and set(y) == {-1, 1}


def test_xor_labels_are_plus_one_where_signs_differ() -> None:
    X, y = nn.data.make_xor(n=500, noise=0.0, seed=2)
    for (x0, x1), label in zip(X, y):
        assert label == (1 if (x0 > 0) != (x1 > 0) else -1)
    assert all(-1.0 <= v <= 1.0 for row in X for v in row)


def test_blobs_are_centered_on_given_centers_with_given_std() -> None:
    centers = [[-5.0, 0.0], [5.0, 2.0], [0.0, 8.0]]
    X, y = nn.data.make_blobs(n=3001, centers=centers, std=0.5, seed=0)
    assert [y.count(k) for k in range(3)] == [1001, 1000, 1000]
    a = np.array(X)
    for k, c in enumerate(centers):
        pts = a[np.array(y) == k]
        assert np.allclose(pts.mean(axis=0), c, atol=0.05)
        assert np.allclose(pts.std(axis=0), 0.5, atol=0.03)


def test_blobs_with_a_count_draw_centers_in_the_box() -> None:
    X, y = nn.data.make_blobs(n=40, centers=4, std=0.0, seed=1)
    assert set(y) == {0, 1, 2, 3}
    assert all(-10.0 <= v <= 10.0 for row in X for v in row)


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: nn.data.make_moons(n=0), ValueError, "n must be"),
        (lambda: nn.data.make_moons(noise=-0.1), ValueError, "noise"),
        (lambda: nn.data.make_xor(n=2.5), ValueError, "n must be"),
        (lambda: nn.data.make_blobs(centers=0), ValueError, "centers"),
        (lambda: nn.data.make_blobs(centers=[[1.0, 2.0, 3.0]]), ValueError, "centers"),
        (lambda: nn.data.make_blobs(std=math.inf), ValueError, "std"),
    ],
)
def test_bad_arguments_raise(call: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        call()  # type: ignore[operator]
