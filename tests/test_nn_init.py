"""Init schemes: the variances of the formulas on large layers (within 5 %), bounds, zeros."""

from __future__ import annotations

import math

import numpy as np
import pytest

import nn

FAN_IN, FAN_OUT = 400, 200

# scheme -> (variance by the textbook formula, bound of the support or None for normal)
EXPECTED = {
    "uniform": (1.0 / 3.0, 1.0),
    "xavier_uniform": (2.0 / (FAN_IN + FAN_OUT), math.sqrt(6.0 / (FAN_IN + FAN_OUT))),
    "xavier_normal": (2.0 / (FAN_IN + FAN_OUT), None),
    "he_uniform": (2.0 / FAN_IN, math.sqrt(6.0 / FAN_IN)),
    "he_normal": (2.0 / FAN_IN, None),
}


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_weight_variance_of_a_large_layer_matches_the_formula(scheme: str) -> None:
    layer = nn.Layer(FAN_IN, FAN_OUT, init=scheme, seed=11)
    ws = np.array([w.data for w in layer.weights()])
    var, bound = EXPECTED[scheme]
    assert ws.size == FAN_IN * FAN_OUT
    assert abs(ws.var() / var - 1.0) < 0.05, f"{scheme}: variance {ws.var()} vs {var}"
    assert abs(ws.mean()) < 0.05 * math.sqrt(var)
    if bound is not None:
        assert np.abs(ws).max() <= bound
        assert np.abs(ws).max() > 0.99 * bound  # the whole interval is used


@pytest.mark.parametrize("scheme", sorted(EXPECTED))
def test_functions_draw_size_values_with_the_formula_variance(scheme: str) -> None:
    fn = getattr(nn.init, scheme)
    xs = np.array(fn(FAN_IN, FAN_OUT, 50_000, np.random.default_rng(0)))
    assert xs.shape == (50_000,)
    assert abs(xs.var() / EXPECTED[scheme][0] - 1.0) < 0.05


def test_default_init_is_xavier_uniform() -> None:
    layer = nn.Layer(300, 300, seed=2)
    ws = np.array([w.data for w in layer.weights()])
    bound = math.sqrt(6.0 / 600)
    assert np.abs(ws).max() <= bound
    assert abs(ws.var() / (2.0 / 600) - 1.0) < 0.05


def test_standalone_neuron_has_fan_out_one() -> None:
    ws = np.array([w.data for w in nn.Neuron(20_000, init="xavier_uniform", seed=0).w])
    assert np.abs(ws).max() <= math.sqrt(6.0 / 20_001)
    assert abs(ws.var() / (2.0 / 20_001) - 1.0) < 0.05


def test_zeros_gives_zero_weights_and_biases() -> None:
    model = nn.MLP(3, [4, 1], init="zeros")
    assert all(p.data == 0.0 for p in model.parameters())


def test_schemes_by_name_are_the_module_functions() -> None:
    for name, fn in nn.init.SCHEMES.items():
        assert nn.init.get(name) is getattr(nn.init, name)
        assert fn is getattr(nn.init, name)
    with pytest.raises(ValueError, match="expected one of 'uniform'"):
        nn.init.get("kaiming")
    with pytest.raises(TypeError, match="init must be"):
        nn.init.get(3)  # type: ignore[arg-type]


def test_bad_fans_are_refused() -> None:
    with pytest.raises(ValueError, match="fan_in"):
        nn.init.he_normal(0, 1, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match="size"):
        nn.init.uniform(1, 1, -1, np.random.default_rng(0))


def test_direct_call_defaults_to_a_whole_layer_and_accepts_a_seed() -> None:
    xs = nn.init.xavier_normal(300, 200, rng=4)
    assert len(xs) == 300 * 200
    assert xs == nn.init.xavier_normal(300, 200, rng=4)
    assert abs(np.var(xs) / (2.0 / 500) - 1.0) < 0.05
    assert len(nn.init.he_uniform(3, 2)) == 6
    assert nn.init.zeros(2, 3) == [0.0] * 6
