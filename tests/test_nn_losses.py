"""Losses against PyTorch float64: values and gradients w.r.t. predictions, edge logits, and
clear errors for mismatched inputs."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import nn
from autograd import Value
from tests.conftest import require_torch

reals = st.floats(-5.0, 5.0, allow_nan=False)
logit = st.one_of(reals, st.sampled_from([0.0, -0.0, 40.0, -40.0, 1000.0, -1000.0]))


def assert_close(got: float, want: float, what: str, tol: float = 1e-12) -> None:
    assert math.isfinite(got), f"{what}: {got!r} is not finite"
    assert abs(got - want) <= tol * max(1.0, abs(want)), f"{what}: got {got!r}, torch {want!r}"


def check(loss: Value, ours: list[Value], ref: Any, leaf: Any, name: str) -> None:
    """Compare a loss and d loss / d input with torch's."""
    ref.backward()
    assert_close(loss.data, ref.item(), f"{name} value")
    loss.backward()
    for i, (v, g) in enumerate(zip(ours, leaf.grad.flatten().tolist())):
        assert_close(v.grad, g, f"{name} d/d input {i}")


@given(data=st.lists(st.tuples(reals, reals), min_size=1, max_size=8))
def test_mse_loss_is_mean_squared_error_like_torch(data: list[tuple[float, float]]) -> None:
    torch = require_torch()
    ps = [Value(p) for p, _ in data]
    ts = [t for _, t in data]
    x = torch.tensor([p for p, _ in data], requires_grad=True)
    ref = torch.nn.functional.mse_loss(x, torch.tensor(ts))
    check(nn.mse_loss(ps, ts), ps, ref, x, "mse_loss")


@given(data=st.lists(st.tuples(reals, st.sampled_from([-1, 1])), min_size=1, max_size=8))
def test_hinge_loss_is_mean_relu_of_one_minus_margin(data: list[tuple[float, int]]) -> None:
    torch = require_torch()
    ss = [Value(s) for s, _ in data]
    ys = [y for _, y in data]
    x = torch.tensor([s for s, _ in data], requires_grad=True)
    ref = torch.relu(1.0 - torch.tensor(ys, dtype=torch.float64) * x).mean()
    check(nn.hinge_loss(ss, ys), ss, ref, x, "hinge_loss")


@given(data=st.lists(st.tuples(logit, st.floats(0.0, 1.0)), min_size=1, max_size=8))
def test_bce_with_logits_matches_torch_even_at_zero_and_huge_logits(
    data: list[tuple[float, float]],
) -> None:
    torch = require_torch()
    xs = [Value(x) for x, _ in data]
    ts = [t for _, t in data]
    x = torch.tensor([v for v, _ in data], requires_grad=True)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(x, torch.tensor(ts))
    check(nn.bce_with_logits_loss(xs, ts), xs, ref, x, "bce_with_logits_loss")


def test_bce_gradient_at_zero_logit_is_sigmoid_zero_minus_target() -> None:
    x = Value(0.0)
    nn.bce_with_logits_loss(x, 1.0).backward()
    assert x.grad == -0.5  # sigmoid(0) - 1, not the subgradient -1 of the max/abs form


@given(
    logits=st.lists(logit, min_size=1, max_size=6),
    pick=st.integers(0, 5),
)
def test_cross_entropy_one_sample_matches_torch(logits: list[float], pick: int) -> None:
    torch = require_torch()
    t = pick % len(logits)
    ls = [Value(v) for v in logits]
    x = torch.tensor([logits], requires_grad=True)
    ref = torch.nn.functional.cross_entropy(x, torch.tensor([t]))
    check(nn.cross_entropy_loss(ls, t), ls, ref, x, "cross_entropy_loss")


@given(
    rows=st.lists(st.lists(logit, min_size=3, max_size=3), min_size=1, max_size=4),
    picks=st.lists(st.integers(0, 2), min_size=4, max_size=4),
)
def test_cross_entropy_batch_is_the_mean_like_torch(
    rows: list[list[float]], picks: list[int]
) -> None:
    torch = require_torch()
    ts = picks[: len(rows)]
    ls = [[Value(v) for v in row] for row in rows]
    x = torch.tensor(rows, requires_grad=True)
    ref = torch.nn.functional.cross_entropy(x, torch.tensor(ts))
    check(nn.cross_entropy_loss(ls, ts), [v for row in ls for v in row], ref, x, "batch CE")


def test_cross_entropy_is_exact_at_logits_of_a_thousand() -> None:
    ls = [Value(1000.0), Value(-1000.0)]
    loss = nn.cross_entropy_loss(ls, 1)
    assert loss.data == 2000.0
    loss.backward()
    assert ls[0].grad == 1.0 and ls[1].grad == -1.0
    assert nn.cross_entropy_loss([Value(1000.0), Value(-1000.0)], 0).data == 0.0


def test_targets_may_be_values_and_get_gradients() -> None:
    p, t = Value(3.0), Value(1.0)
    loss = nn.mse_loss(p, t)
    loss.backward()
    assert loss.data == 4.0 and p.grad == 4.0 and t.grad == -4.0


def test_batches_of_vector_outputs_are_flattened_like_torch() -> None:
    preds = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
    assert nn.mse_loss(preds, [[0.0, 0.0], [0.0, 0.0]]).data == (1 + 4 + 9 + 16) / 4


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: nn.mse_loss([Value(1.0)] * 3, [1.0, 2.0]), ValueError, "3 predictions but 2"),
        (lambda: nn.mse_loss([], []), ValueError, "no predictions"),
        (lambda: nn.mse_loss([Value(1.0)], ["a"]), TypeError, "targets"),
        (lambda: nn.hinge_loss([Value(1.0)], [0]), ValueError, "labels must be"),
        (lambda: nn.bce_with_logits_loss([Value(1.0)], [1.0, 0.0]), ValueError, "1 logits"),
        (lambda: nn.cross_entropy_loss([Value(1.0)], 1), IndexError, "out of range"),
        (lambda: nn.cross_entropy_loss([Value(1.0)], -1), IndexError, "out of range"),
        (lambda: nn.cross_entropy_loss([Value(1.0)], 0.0), TypeError, "int"),
        (lambda: nn.cross_entropy_loss([[1.0], [2.0]], [0]), ValueError, "2 samples"),
        (lambda: nn.cross_entropy_loss([[1.0], [2.0]], 0), TypeError, "batch"),
        (lambda: nn.cross_entropy_loss([], 0), TypeError, "non-empty"),
    ],
)
def test_bad_inputs_raise_clear_errors(call: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        call()  # type: ignore[operator]


def test_hinge_loss_trains_an_mlp_output_directly() -> None:
    model = nn.MLP(2, [4, 1], seed=0)
    X, y = nn.data.make_moons(n=10, seed=0)
    scores = [model(x) for x in X]
    loss = nn.hinge_loss(scores, y)
    loss.backward()
    assert loss.scope == "" and loss.data >= 0.0
    assert any(p.grad != 0.0 for p in model.parameters())
