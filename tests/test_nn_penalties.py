"""Weight sums and penalties: values, gradients lam*sign(w) and 2*lam*w, biases untouched,
and weight_stats against numpy."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import Value

# Normal floats only: lam * w of a subnormal lam underflows, so "exactly 2 lam w" needs range.
lams = st.one_of(st.just(0.0), st.floats(1e-6, 10.0))
seeds = st.integers(0, 2**32 - 1)


def sign(x: float) -> float:
    return 1.0 if x > 0 else (-1.0 if x < 0 else 0.0)


def model_with_biases(seed: int) -> nn.MLP:
    m = nn.MLP(3, [4, 2], seed=seed)
    for i, b in enumerate(m.biases()):
        b.data = 0.1 * (i + 1)  # non-zero, so a bias gradient would show
    return m


@given(seed=seeds, lam=lams)
def test_l1_penalty_grad_is_lam_sign_w_and_biases_untouched(seed: int, lam: float) -> None:
    m = model_with_biases(seed)
    m.layers[0].neurons[0].w[0].data = 0.0  # sign(0) = 0, as PyTorch's abs
    pen = nn.l1_penalty(m, lam)
    assert math.isclose(pen.data, lam * sum(abs(w.data) for w in m.weights()), rel_tol=1e-12)
    pen.backward()
    for w in m.weights():
        assert w.grad == lam * sign(w.data), (w.data, w.grad)
    assert all(b.grad == 0.0 for b in m.biases())


@given(seed=seeds, lam=lams)
def test_l2_penalty_grad_is_two_lam_w_and_biases_untouched(seed: int, lam: float) -> None:
    m = model_with_biases(seed)
    pen = nn.l2_penalty(m, lam)
    assert math.isclose(pen.data, lam * sum(w.data**2 for w in m.weights()), rel_tol=1e-12)
    pen.backward()
    for w in m.weights():
        assert w.grad == 2.0 * lam * w.data, (w.data, w.grad)
    assert all(b.grad == 0.0 for b in m.biases())


@given(seed=seeds)
def test_weight_sum_is_sum_of_weights_with_unit_gradient(seed: int) -> None:
    m = model_with_biases(seed)
    s = nn.weight_sum(m)
    assert math.isclose(s.data, math.fsum(w.data for w in m.weights()), abs_tol=1e-12)
    s.backward()
    assert all(w.grad == 1.0 for w in m.weights())
    assert all(b.grad == 0.0 for b in m.biases())


def test_include_bias_adds_the_biases() -> None:
    m = model_with_biases(0)
    s = nn.weight_sum(m, include_bias=True)
    assert math.isclose(s.data, math.fsum(p.data for p in m.parameters()), abs_tol=1e-12)
    pen = nn.l2_penalty(m, 0.5, include_bias=True)
    pen.backward()
    assert all(b.grad == 2.0 * 0.5 * b.data for b in m.biases())


def test_penalties_accept_any_iterable_of_values() -> None:
    vs = [Value(-2.0), Value(3.0)]
    assert nn.weight_sum(vs).data == 1.0
    assert nn.l1_penalty(iter(vs), 0.5).data == 2.5
    assert nn.l2_penalty(tuple(vs), 0.1).data == pytest.approx(1.3)
    assert nn.weight_sum([]).data == 0.0


def test_penalty_is_one_sum_node_times_lam() -> None:
    m = nn.MLP(2, [3], seed=0)
    pen = nn.l2_penalty(m, 0.1)
    assert pen.op == "mul"
    total = pen.parents[1]
    assert total.op == "sum" and len(total.parents) == 6


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: nn.l1_penalty(nn.MLP(2, [2]), -1.0), ValueError, "lam"),
        (lambda: nn.l2_penalty(nn.MLP(2, [2]), math.nan), ValueError, "lam"),
        (lambda: nn.l2_penalty(nn.MLP(2, [2]), "0.1"), TypeError, "lam"),
        (lambda: nn.weight_sum([Value(1.0), 2.0]), TypeError, "item 1"),
        (lambda: nn.weight_sum(3), TypeError, "Module or an iterable"),
    ],
)
def test_bad_arguments_raise(call: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        call()  # type: ignore[operator]


def stats_of(xs: list[float]) -> dict[str, float]:
    a = np.array(xs)
    return {
        "sum": float(a.sum()),
        "l1": float(np.abs(a).sum()),
        "l2": float((a * a).sum()),
        "mean": float(a.mean()),
        "max_abs": float(np.abs(a).max()),
        "count": a.size,
    }


def assert_stats(got: dict[str, float], want: dict[str, float]) -> None:
    assert set(got) == set(want)
    assert got["count"] == want["count"] and isinstance(got["count"], int)
    for k in ("sum", "l1", "l2", "mean", "max_abs"):
        assert isinstance(got[k], float)
        assert math.isclose(got[k], want[k], rel_tol=1e-12, abs_tol=1e-12), k


@given(seed=seeds)
def test_weight_stats_per_layer_and_total_match_numpy(seed: int) -> None:
    m = model_with_biases(seed)
    stats = nn.weight_stats(m)
    assert set(stats) == {"layers", "total"}
    assert len(stats["layers"]) == 2
    for layer, got in zip(m.layers, stats["layers"]):
        assert_stats(got, stats_of([w.data for w in layer.weights()]))
    assert_stats(stats["total"], stats_of([w.data for w in m.weights()]))
    with_b = nn.weight_stats(m, include_bias=True)
    assert_stats(with_b["total"], stats_of([p.data for p in m.parameters()]))


def test_weight_stats_of_a_layer_a_neuron_and_a_list() -> None:
    layer = nn.Layer(3, 2, seed=0)
    assert len(nn.weight_stats(layer)["layers"]) == 1
    neuron = nn.Neuron(4, seed=0)
    assert nn.weight_stats(neuron)["total"]["count"] == 4
    vs = [Value(-3.0), Value(1.0)]
    assert_stats(nn.weight_stats(vs)["total"], stats_of([-3.0, 1.0]))
    empty = nn.weight_stats([])["total"]
    assert empty == {"sum": 0.0, "l1": 0.0, "l2": 0.0, "mean": 0.0, "max_abs": 0.0, "count": 0}
