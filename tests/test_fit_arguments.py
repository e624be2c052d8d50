"""fit's argument errors name the argument (never a raw Python error from deep inside), NaN
targets are reported as NaN targets, and a failed call leaves the model as it was."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn

X = [[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [-1.0, 0.3]]
Y = [1, -1, 1, -1]


def model() -> nn.MLP:
    return nn.MLP(2, [3, 1], seed=0)


BAD_CALLS: list[tuple[str, dict[str, Any], type[Exception], str]] = [
    ("y str", {"y": "abc"}, TypeError, r"fit: y must be a sequence of targets .*, got str"),
    ("y int", {"y": 3}, TypeError, r"fit: y must be a sequence of targets .*, got int"),
    ("y None", {"y": None}, TypeError, r"fit: y must be a sequence of targets"),
    (
        "y strs",
        {"y": ["a", "b", "c", "d"]},
        TypeError,
        r"fit: y\[0\] must be a real number, got str",
    ),
    ("X str", {"X": "abcd"}, TypeError, r"fit: X must be a sequence of samples"),
    ("X None", {"X": None}, TypeError, r"fit: X must be a sequence of samples"),
    (
        "lr_schedule None",
        {"lr_schedule": lambda k: None},
        TypeError,
        r"fit: lr_schedule\(0\) must be a real number, got NoneType",
    ),
    (
        "lr_schedule str",
        {"lr_schedule": lambda k: "0.1"},
        TypeError,
        r"fit: lr_schedule\(0\) must be a real number",
    ),
    (
        "lr_schedule negative",
        {"lr_schedule": lambda k: -0.1},
        ValueError,
        r"fit: invalid lr_schedule\(0\)",
    ),
    ("lr_schedule 3", {"lr_schedule": 3}, TypeError, r"fit: lr_schedule must be a function"),
    ("callbacks [3]", {"callbacks": [3]}, TypeError, r"fit: callbacks\[0\] is not callable"),
    (
        "callbacks [f, 3]",
        {"callbacks": [lambda *a: None, 3]},
        TypeError,
        r"fit: callbacks\[1\] is not callable",
    ),
    ("callbacks 3", {"callbacks": 3}, TypeError, r"fit: callbacks must be a list of functions"),
    ("callbacks str", {"callbacks": "stop"}, TypeError, r"fit: callbacks must be a list"),
    (
        "optimizer object",
        {"optimizer": object()},
        TypeError,
        r"fit: optimizer must have zero_grad\(\), step\(\) and an assignable lr.* object "
        r"has no zero_grad\(\), step\(\), lr",
    ),
    ("optimizer str", {"optimizer": "adam"}, TypeError, r"fit: optimizer must have"),
    ("model None", {"model": None}, TypeError, r"fit: model must be an nn.Module.*NoneType"),
    ("model fn", {"model": lambda x: x}, TypeError, r"fit: model must be an nn.Module"),
    ("l1 str", {"l1": "x"}, TypeError, r"fit: l1 must be a real number"),
    ("l2 nan", {"l2": math.nan}, ValueError, r"fit: invalid l2"),
    ("hinge 0/1", {"y": [1, 0, 1, 0]}, ValueError, r"fit: y\[1\] must be \+1 or -1"),
    ("bce 2", {"y": [1, 2, 0, 0], "loss": "bce"}, ValueError, r"fit: y\[1\] must be in \[0, 1\]"),
    (
        "ce 1.5",
        {"y": [0, 1.5, 0, 1], "loss": "cross_entropy"},
        ValueError,
        r"fit: y\[1\] must be a class index",
    ),
    ("loss name", {"loss": "l2"}, ValueError, r"fit: unknown loss 'l2'"),
]


@pytest.mark.parametrize(
    ("kw", "err", "match"), [c[1:] for c in BAD_CALLS], ids=[c[0] for c in BAD_CALLS]
)
def test_bad_arguments_name_the_argument_and_change_nothing(
    kw: dict[str, Any], err: type[Exception], match: str
) -> None:
    m = model()
    args: dict[str, Any] = {"model": m, "X": X, "y": Y, "epochs": 2, "progress": False}
    args.update(kw)
    before = m.state_dict()
    with pytest.raises(err, match=match):
        nn.fit(**args)
    assert m.state_dict() == before


def test_an_optimizer_of_another_model_is_refused() -> None:
    m, other = model(), model()
    before = m.state_dict()
    with pytest.raises(ValueError, match="holds none of the model's parameters"):
        nn.fit(m, X, Y, optimizer=nn.SGD(other.parameters(), lr=0.1), progress=False)
    assert m.state_dict() == before


def test_an_optimizer_of_some_of_the_parameters_trains_those() -> None:
    m = model()
    frozen = {id(p) for p in m.layers[0].parameters()}
    opt = nn.SGD(m.layers[1].parameters(), lr=0.1)
    before = {id(p): p.data for p in m.parameters()}
    nn.fit(m, X, Y, optimizer=opt, epochs=3, progress=False)
    assert all(p.data == before[id(p)] for p in m.parameters() if id(p) in frozen)
    assert any(p.data != before[id(p)] for p in m.layers[1].parameters())


def test_a_single_callback_is_taken_as_a_list_of_one() -> None:
    """Like Lightning's ``Trainer(callbacks=cb)``: ``callbacks=fn`` means ``[fn]``."""
    seen: list[tuple[int, int]] = []

    def stop_at_2(epoch: int, history: nn.History, m: Any) -> bool:
        seen.append((epoch, len(history)))
        return epoch == 2

    h = nn.fit(model(), X, Y, epochs=10, progress=False, callbacks=stop_at_2)
    assert seen == [(0, 1), (1, 2), (2, 3)] and h.stopped_early and len(h) == 3


LOSS_OF = {"hinge": Y, "bce": [1, 0, 1, 0], "mse": [0.5, -0.5, 0.2, 1.0]}


@settings(max_examples=30)
@given(
    loss=st.sampled_from(["hinge", "bce", "mse", "cross_entropy"]),
    at=st.integers(0, 3),
    bad=st.sampled_from([math.nan, math.inf, -math.inf]),
    compiled=st.booleans(),
)
def test_nan_targets_are_reported_as_nan_targets(
    loss: str, at: int, bad: float, compiled: bool
) -> None:
    m = nn.MLP(2, [3, 2 if loss == "cross_entropy" else 1], seed=0)
    y: list[Any] = list(LOSS_OF.get(loss, [0, 1, 1, 0]))
    y[at] = bad
    before = m.state_dict()
    with pytest.raises(ValueError, match=rf"fit: y\[{at}\] is {bad!r}.*NaN target"):
        nn.fit(m, X, y, loss=loss, epochs=2, progress=False, compiled=compiled)
    assert m.state_dict() == before


@settings(max_examples=20)
@given(at=st.integers(0, 3), bad=st.sampled_from([math.nan, math.inf]), compiled=st.booleans())
def test_nan_targets_of_a_custom_loss_are_reported_as_nan_targets(
    at: int, bad: float, compiled: bool
) -> None:
    def loss(preds: Any, targets: Any) -> Any:
        return nn.mse_loss(preds, targets)

    m = model()
    y: list[Any] = [0.5, -0.5, 0.2, 1.0]
    y[at] = bad
    before = m.state_dict()
    with pytest.raises(ValueError, match=rf"target y\[{at}\] is {bad!r}.*NaN target"):
        nn.fit(m, X, y, loss=loss, epochs=2, progress=False, compiled=compiled)
    assert m.state_dict() == before


def test_divergence_in_the_forward_pass_names_the_layer_by_its_parameter_path() -> None:
    """The scope of the first non-finite node is the layer's named_parameters path as is."""
    m = nn.MLP(2, [2, 1], activation="linear", seed=0)
    state = m.state_dict()
    state.update({"layers.0.neurons.1.w.0": 1.5, "layers.0.neurons.1.w.1": 1.5})
    m.load_state_dict(state)
    with pytest.raises(nn.TrainingDivergedError) as info:
        nn.fit(m, [[1e308, 1e308]], [0.0], loss="mse", epochs=1, progress=False)
    assert info.value.layer == "layers.0"
    assert "node layers.0.neurons.1 (z)" in str(info.value)
