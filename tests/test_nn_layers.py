"""Neuron, Layer and MLP: the delta rule on every weight, the backprop recursion by hand,
scopes and labels, parameter names and order, seeding, and input checks."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import autograd
import nn
from autograd import Value

ACTS = ["tanh", "relu", "sigmoid", "linear", "leaky_relu"]


def f_prime(act: str, z: float, a: float) -> float:
    """da/dz derived by hand for each activation (independent of the op table)."""
    if act == "tanh":
        return 1.0 - a * a
    if act == "sigmoid":
        return a * (1.0 - a)
    if act == "relu":
        return 1.0 if z > 0.0 else 0.0
    if act == "leaky_relu":
        return 1.0 if z > 0.0 else 0.01
    return 1.0


def f(act: str, z: float) -> float:
    if act == "tanh":
        return math.tanh(z)
    if act == "sigmoid":
        return 1.0 / (1.0 + math.exp(-z))
    if act == "relu":
        return max(z, 0.0)
    if act == "leaky_relu":
        return z if z > 0.0 else 0.01 * z
    return z


def close(a: float, b: float, tol: float = 1e-12) -> bool:
    return abs(a - b) <= tol * max(1.0, abs(a), abs(b))


inputs = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=3, max_size=3)
seeds = st.integers(0, 2**32 - 1)


@pytest.mark.parametrize("act", ACTS)
@given(x=inputs, seed=seeds, target=st.floats(-1.0, 1.0))
def test_weight_grad_is_delta_times_input_on_every_weight_of_an_mlp(
    act: str, x: list[float], seed: int, target: float
) -> None:
    model = nn.MLP(3, [4, 3, 2], activation=act, output_activation=act, seed=seed)
    out = model(x)
    assert isinstance(out, list)
    loss = nn.mse_loss(out, [target, -target])
    loss.backward()
    for li, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            delta = neuron.z.grad
            for i, w in enumerate(neuron.w):
                assert w.grad == delta * neuron.x[i].data, (
                    f"layer {li} neuron {j} w{i}: grad {w.grad!r}, "
                    f"delta * x = {delta * neuron.x[i].data!r}"
                )
            assert neuron.b.grad == delta, f"layer {li} neuron {j}: dL/db must equal delta"


@pytest.mark.parametrize("act", ACTS)
@given(x=inputs, seed=seeds, target=st.floats(-1.0, 1.0))
def test_delta_follows_the_backprop_recursion(
    act: str, x: list[float], seed: int, target: float
) -> None:
    """delta_out = dL/da * f'(z); delta_j = f'(z_j) * sum_k w_kj delta_k, all by hand."""
    model = nn.MLP(3, [4, 3, 1], activation=act, output_activation="linear", seed=seed)
    out = model(x)
    assert isinstance(out, Value)
    loss = nn.mse_loss(out, target)
    loss.backward()
    (last,) = model.layers[-1].neurons
    expected = 2.0 * (out.data - target) * 1.0  # linear output: f' = 1
    assert close(last.z.grad, expected), (last.z.grad, expected)
    for li in range(len(model.layers) - 2, -1, -1):
        nxt = model.layers[li + 1].neurons
        for j, neuron in enumerate(model.layers[li].neurons):
            back = sum(k.w[j].data * k.z.grad for k in nxt)
            want = f_prime(act, neuron.z.data, neuron.a.data) * back
            assert close(neuron.z.grad, want), f"layer {li} neuron {j}: {neuron.z.grad} vs {want}"


@pytest.mark.parametrize("act", ACTS)
def test_forward_is_activation_of_weighted_sum_plus_bias(act: str) -> None:
    neuron = nn.Neuron(3, activation=act, seed=3)
    neuron.b.data = 0.25
    x = [0.5, -1.5, 2.0]
    a = neuron(x)
    z = math.fsum(w.data * xi for w, xi in zip(neuron.w, x)) + 0.25
    assert close(neuron.z.data, z)
    assert close(a.data, f(act, z))
    assert neuron.a is a
    assert [v.data for v in neuron.x] == x


def test_neuron_keeps_latest_call_and_is_missing_before_any_call() -> None:
    neuron = nn.Neuron(2, seed=0)
    with pytest.raises(AttributeError, match="not been called"):
        neuron.z
    neuron([1.0, 2.0])
    first = neuron.z
    neuron([3.0, 4.0])
    assert neuron.z is not first
    assert [v.data for v in neuron.x] == [3.0, 4.0]


def test_value_inputs_are_used_as_given_and_get_gradients() -> None:
    x = [Value(0.5, label="p"), Value(-0.25, label="q")]
    neuron = nn.Neuron(2, activation="tanh", seed=1)
    a = neuron(x)
    a.backward()
    assert neuron.x[0] is x[0] and neuron.x[1] is x[1]
    for i in range(2):
        assert x[i].grad == neuron.z.grad * neuron.w[i].data  # dL/dx_i = delta * w_i


def test_neuron_z_is_one_fused_dot_node() -> None:
    neuron = nn.Neuron(3, activation="linear", seed=0)
    out = neuron([1.0, 2.0, 3.0])
    assert out is neuron.z and out.op == "dot"
    assert out.parents == (*neuron.w, *neuron.x, neuron.b)


def test_layer_returns_a_list_or_one_value_like_micrograd() -> None:
    three = nn.Layer(2, 3, seed=0)([1.0, 2.0])
    one = nn.Layer(2, 1, seed=0)([1.0, 2.0])
    assert isinstance(three, list) and len(three) == 3
    assert isinstance(one, Value)


def test_mlp_hidden_activation_and_linear_output_by_default() -> None:
    model = nn.MLP(2, [3, 2], seed=0)
    assert [n.activation for n in model.layers[0].neurons] == ["tanh"] * 3
    assert [n.activation for n in model.layers[1].neurons] == ["linear"] * 2
    out = model([0.1, 0.2])
    assert isinstance(out, list)
    assert all(o.op == "dot" for o in out)
    # layer 1 sees the outputs of layer 0 as its inputs
    assert model.layers[1].neurons[0].x == [n.a for n in model.layers[0].neurons]


def test_scopes_name_each_neuron_and_layer() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    w = model.layers[0].neurons[2].w[1]
    assert w.scope == "layers.0.neurons.2" and w.label == "w1"
    assert model.layers[0].neurons[2].b.label == "b"
    model([0.5, -0.5])
    n = model.layers[0].neurons[2]
    assert n.z.scope == "layers.0.neurons.2" and n.z.label == "z"
    assert n.a.scope == "layers.0.neurons.2" and n.a.label == "a"
    assert [v.label for v in n.x] == ["x0", "x1"]
    assert all(v.scope == "" for v in n.x)  # made by the root module, which has no scope
    out = model.layers[1].neurons[0]
    assert out.z.scope == "layers.1.neurons.0"
    loss = nn.mse_loss(out.a, 0.0)
    assert loss.scope == ""
    assert autograd.current_scope() == ""


def test_standalone_modules_use_their_default_scope_names() -> None:
    assert nn.Neuron(2).w[0].scope == ""
    assert nn.Layer(2, 2).neurons[1].w[0].scope == "neurons.1"
    assert nn.MLP(2, [2], name="net").layers[0].neurons[0].b.scope == "net.layers.0.neurons.0"
    with pytest.raises(TypeError, match="MLP: name must be a str"):
        nn.MLP(2, [2], name=None)  # type: ignore[arg-type]


def own_name(p: autograd.Value) -> str:
    """A parameter's own segment of its name: label ``w3`` -> ``w.3``, ``b`` -> ``b``."""
    return "b" if p.label == "b" else f"w.{p.label[1:]}"


@settings(max_examples=25)
@given(
    nin=st.integers(1, 4),
    nouts=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    kind=st.sampled_from(["mlp", "layer", "neuron"]),
)
def test_a_parameters_scope_is_its_named_parameters_path(
    nin: int, nouts: list[int], kind: str
) -> None:
    """One name per parameter: scope + "." + own name == named_parameters key, for the
    parameters and for every node a call makes (z, a carry the neuron's scope)."""
    model: nn.Module
    if kind == "mlp":
        model = nn.MLP(nin, nouts, seed=0)
    elif kind == "layer":
        model = nn.Layer(nin, nouts[0], seed=0)
    else:
        model = nn.Neuron(nin, seed=0)
    for key, p in model.named_parameters():
        joined = f"{p.scope}.{own_name(p)}" if p.scope else own_name(p)
        assert joined == key, (key, p.scope, p.label)
    model([0.5] * nin)  # type: ignore[operator]
    neurons = [m for _, m in _modules(model) if isinstance(m, nn.Neuron)]
    for path, m in _modules(model):
        if isinstance(m, nn.Neuron):
            assert m.z.scope == path and m.a.scope == path
    assert neurons


def _modules(m: nn.Module, path: str = "") -> list[tuple[str, nn.Module]]:
    out = [(path, m)]
    for name, child in m.named_children():
        out.extend(_modules(child, f"{path}.{name}" if path else name))
    return out


class Parent(nn.Module):
    def __init__(self) -> None:
        self.encoder = nn.MLP(2, [2, 1], name="encoder", seed=0)
        self.head = nn.Neuron(1, name="head", seed=1)


def test_a_named_child_network_keeps_the_equality_in_its_parent() -> None:
    for key, p in Parent().named_parameters():
        assert f"{p.scope}.{own_name(p)}" == key


def test_named_parameters_follow_pytorch_style_names_in_parameter_order() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    named = model.named_parameters()
    names = [n for n, _ in named]
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1", "layers.0.neurons.0.b"]
    assert "layers.0.neurons.2.w.1" in names and "layers.1.neurons.0.b" in names
    assert len(names) == len(set(names)) == 3 * 3 + 4
    assert [v for _, v in named] == model.parameters()
    expected = []
    for layer in model.layers:
        for n in layer.neurons:
            expected += [*n.w, n.b]
    assert all(a is b for a, b in zip(model.parameters(), expected))
    assert [n for n, _ in nn.Neuron(2).named_parameters()] == ["w.0", "w.1", "b"]
    assert [n for n, _ in nn.Layer(2, 2).named_parameters()][3:] == [
        "neurons.1.w.0",
        "neurons.1.w.1",
        "neurons.1.b",
    ]
    assert model.weights() == [v for n, v in named if not n.endswith(".b")]
    assert model.biases() == [v for n, v in named if n.endswith(".b")]


def test_zero_grad_resets_every_parameter() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    out = model([1.0, 1.0])
    assert isinstance(out, Value)
    out.backward()
    assert any(p.grad != 0.0 for p in model.parameters())
    model.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_biases_start_at_zero() -> None:
    model = nn.MLP(3, [5, 2], init="he_normal", seed=1)
    assert all(b.data == 0.0 for b in model.biases())


def test_seed_reproduces_the_network_and_different_seeds_differ() -> None:
    a = nn.MLP(3, [4, 4, 1], seed=7).state_dict()
    b = nn.MLP(3, [4, 4, 1], seed=7).state_dict()
    c = nn.MLP(3, [4, 4, 1], seed=8).state_dict()
    assert a == b
    assert a != c
    # every neuron draws its own stream: no two neurons start alike
    rows = [tuple(w.data for w in n.w) for n in nn.Layer(3, 6, seed=1).neurons]
    assert len(set(rows)) == 6


def test_no_seed_draws_fresh_weights() -> None:
    assert nn.MLP(3, [4, 1]).state_dict() != nn.MLP(3, [4, 1]).state_dict()


def test_layers_of_an_mlp_do_not_share_streams() -> None:
    model = nn.MLP(2, [2, 2], activation="tanh", seed=5)
    first = [w.data for w in model.layers[0].neurons[0].w]
    second = [w.data for w in model.layers[1].neurons[0].w]
    assert first != second


def test_leaky_relu_uses_slope_one_hundredth() -> None:
    neuron = nn.Neuron(1, activation="leaky_relu", init="zeros")
    neuron.b.data = -2.0
    a = neuron([1.0])
    assert a.data == pytest.approx(-0.02)
    a.backward()
    assert neuron.z.grad == pytest.approx(0.01)


def test_single_input_may_be_a_bare_number() -> None:
    neuron = nn.Neuron(1, activation="linear", init="zeros")
    neuron.w[0].data = 3.0
    assert neuron(2.0).data == 6.0


def test_numpy_rows_are_accepted_as_inputs() -> None:
    import numpy as np

    model = nn.MLP(2, [2, 1], seed=0)
    a = model(np.array([0.5, -0.5]))
    b = model([0.5, -0.5])
    assert isinstance(a, Value) and isinstance(b, Value) and a.data == b.data


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: nn.Neuron(2)([1.0]), ValueError, "expected 2 input"),
        (lambda: nn.Layer(2, 3)([1.0, 2.0, 3.0]), ValueError, "expected 2 input"),
        (lambda: nn.MLP(2, [3])(["a", 1.0]), TypeError, "input 0"),
        (lambda: nn.MLP(2, [3])(None), TypeError, "expected a list"),
        (lambda: nn.Neuron(2, activation="softmax"), ValueError, "unknown activation"),
        (lambda: nn.MLP(2, [3], output_activation="gelu"), ValueError, "unknown activation"),
        (lambda: nn.Neuron(2, init="glorot"), ValueError, "unknown init"),
        (lambda: nn.Neuron(0), ValueError, "nin"),
        (lambda: nn.Layer(2, 0), ValueError, "nout"),
        (lambda: nn.MLP(2, []), ValueError, "nouts"),
        (lambda: nn.MLP(2, [3, 0]), ValueError, "nouts"),
        (lambda: nn.MLP(True, [3]), ValueError, "nin"),
        (lambda: nn.MLP(2, [3], seed=-1), ValueError, "seed"),
        (lambda: nn.MLP(2, [3], seed="x"), ValueError, "seed"),  # type: ignore[arg-type]
    ],
)
def test_bad_arguments_raise_clear_errors(call: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        call()  # type: ignore[operator]


def test_init_callable_gets_fans_and_size() -> None:
    seen: list[tuple[int, int, int]] = []

    def scheme(fan_in: int, fan_out: int, size: int, rng: object) -> list[float]:
        seen.append((fan_in, fan_out, size))
        return [0.5] * size

    model = nn.MLP(3, [4, 2], init=scheme, seed=0)
    assert seen == [(3, 4, 3)] * 4 + [(4, 2, 4)] * 2
    assert all(w.data == 0.5 for w in model.weights())
    nn.Neuron(5, init=scheme)
    assert seen[-1] == (5, 1, 5)


def test_init_callable_returning_the_wrong_count_is_refused() -> None:
    with pytest.raises(ValueError, match="init returned 1 weights for 3 inputs"):
        nn.Neuron(3, init=lambda fi, fo, n, rng: [0.0])


def test_no_grad_forward_builds_no_graph() -> None:
    model = nn.MLP(2, [3, 1], seed=0)
    with autograd.no_grad():
        out = model([1.0, 2.0])
    assert isinstance(out, Value) and out.is_leaf


def test_repr_names_the_architecture() -> None:
    assert repr(nn.MLP(2, [16, 1])) == (
        "MLP(nin=2, nouts=[16, 1], activation='tanh', output_activation='linear')"
    )
    assert repr(nn.Neuron(3, "relu")) == "Neuron(nin=3, activation='relu')"
