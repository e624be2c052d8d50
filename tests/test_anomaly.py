"""autograd.detect_anomaly: where a NaN or inf was born, forward and backward (issue 14)."""

from __future__ import annotations

import math
import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import AnomalyError, Value, creation_site, detect_anomaly, set_detect_anomaly


@pytest.fixture(params=[True, False], ids=["fast", "reference"])
def path(request: pytest.FixtureRequest) -> object:
    before = autograd.is_fast()
    autograd.set_fast(request.param)
    yield request.param
    autograd.set_fast(before)


def test_forward_overflow_from_finite_inputs_names_op_inputs_label_scope_and_site(
    path: object,
) -> None:
    a = Value(1e200, label="big")
    with detect_anomaly(), autograd.scope("layer"), pytest.raises(AnomalyError) as err:
        a * a  # the line the message must point at
    msg = str(err.value)
    assert isinstance(err.value, ArithmeticError)
    assert "mul(1e+200, 1e+200) = inf" in msg and "scope 'layer'" in msg
    assert __file__ in msg and "test_forward_overflow_from_finite_inputs" in msg


def test_nan_from_non_finite_inputs_is_not_blamed_on_the_op_downstream(path: object) -> None:
    inf = Value(1e200) * 1e200  # made with anomaly mode off
    with detect_anomaly():
        d = inf - inf  # NaN, but its inputs were already inf: not this op's fault
    assert math.isnan(d.data)


def test_backward_anomaly_names_node_partial_site_route_and_changes_no_grad(path: object) -> None:
    with detect_anomaly():
        x = Value(-0.5, label="x")
        x.grad = None
        r = x.relu()
        y = r.sqrt()  # sqrt'(0) = inf: the contribution to r is 2 * inf
        L = y * 2.0
        site_line = creation_site(y)
        with pytest.raises(AnomalyError) as err:
            L.backward()
    msg = str(err.value)
    assert "sqrt node" in msg and "partial d/dx0 = inf" in msg and "route from the root" in msg
    assert site_line is not None and site_line.file == __file__
    assert x.grad is None and r.grad == 0.0 and L.grad == 0.0


def test_off_by_default_per_thread_and_no_sites_stored() -> None:
    v = Value(1.0) * 2.0
    assert creation_site(v) is None
    seen: list[object] = []
    set_detect_anomaly(True)
    try:
        t = threading.Thread(target=lambda: seen.append(creation_site(Value(1.0) * 3.0)))
        t.start()
        t.join()
        assert creation_site(Value(1.0) * 2.0) is not None
    finally:
        set_detect_anomaly(False)
    assert seen == [None]
    assert (Value(1e200) * 1e200).data == math.inf  # off again: no error


@given(st.floats(-3.0, 3.0), st.floats(-3.0, 3.0))
def test_anomaly_mode_changes_no_number_on_finite_programs(a: float, b: float) -> None:
    def run() -> tuple[float, float | None, float | None]:
        x, y = Value(a), Value(b)
        L = (x * y + x.tanh()).sigmoid() * (y - 1.0)
        L.backward()
        return L.data, x.grad, y.grad

    plain = run()
    with detect_anomaly():
        checked = run()
    assert checked == plain


def test_set_detect_anomaly_rejects_non_bool() -> None:
    with pytest.raises(TypeError, match="set_detect_anomaly"):
        set_detect_anomaly(1)  # type: ignore[arg-type]


def test_fit_divergence_names_the_creation_site_under_anomaly_mode() -> None:
    import nn

    model = nn.MLP(1, [1], activation="linear", seed=0)
    model.layers[0].neurons[0].w[0].data = 1e200

    def blowup(preds: object, targets: object) -> Value:
        out = preds[0] if isinstance(preds, list) else preds
        assert isinstance(out, Value)
        return (out * 1e200 - 1.0) * 0.0 + out * 1e200

    set_detect_anomaly(True)
    try:
        with pytest.raises(nn.TrainingDivergedError) as err:
            nn.fit(model, [[1.0]], [1.0], loss=blowup, epochs=1)
    finally:
        set_detect_anomaly(False)
    assert __file__ in str(err.value) and "blowup" in str(err.value), str(err.value)
