"""explain_grad: the chain rule of one gradient, checked against hand-derived backprop.

The reference is textbook matrix-style backpropagation on plain floats (no graph):

    z_j = sum_i w_ji x_i + b_j,   a_j = tanh(z_j),   L = (a_out - y)^2
    delta_out = 2 (a_out - y) (1 - a_out^2)
    delta_j   = (1 - a_j^2) * sum_k w_kj delta_k
    dL/dw_ji  = delta_j * x_i,    dL/db_j = delta_j
"""

from __future__ import annotations

import itertools
import math
import random
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from types import ModuleType

import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import OPS, Explanation, Value, explain_grad, gradcheck


@pytest.fixture(autouse=True, scope="module")
def _drop_this_modules_ops() -> Iterator[None]:
    """The ops these tests define are global rows: remove them so other modules never see them."""
    yield
    for name in [n for n, op in OPS.items() if not op.builtin and n.startswith(("explain_",))]:
        del OPS[name]


Matrix = list[list[float]]


@dataclass
class Net:
    """A hand-made MLP graph and its Values, indexed [layer][neuron][input]."""

    xs: list[Value]
    w: list[list[list[Value]]]
    b: list[list[Value]]
    z: list[list[Value]]
    a: list[list[Value]]
    loss: Value


def build(x: list[float], W: list[Matrix], B: Matrix, y: float) -> Net:
    """The graph the nn helper builds: one dot node per neuron, scopes and labels."""
    xs = [Value(v, label=f"x{i}") for i, v in enumerate(x)]
    inp: list[Value] = xs
    net = Net(xs, [], [], [], [], Value(0.0))
    with autograd.scope("mlp"):
        for li, (Wl, Bl) in enumerate(zip(W, B)):
            ws_l, bs_l, zs_l, as_l = [], [], [], []
            with autograd.scope(f"layer{li}"):
                for j, (row, bj) in enumerate(zip(Wl, Bl)):
                    with autograd.scope(f"neuron{j}"):
                        ws = [Value(v, label=f"w{i}") for i, v in enumerate(row)]
                        b = Value(bj, label="b")
                        z = autograd.dot(ws, inp, b)
                        z.label = "z"
                        a = z.tanh()
                        a.label = "a"
                    ws_l.append(ws)
                    bs_l.append(b)
                    zs_l.append(z)
                    as_l.append(a)
            net.w.append(ws_l)
            net.b.append(bs_l)
            net.z.append(zs_l)
            net.a.append(as_l)
            inp = as_l
    net.loss = (inp[0] - y) ** 2
    net.loss.label = "loss"
    return net


@dataclass
class Hand:
    acts: list[list[float]]  # acts[0] = x, acts[l + 1] = a of layer l
    delta: Matrix  # delta[l][j]
    dW: list[Matrix]
    dB: Matrix


def hand_backprop(x: list[float], W: list[Matrix], B: Matrix, y: float) -> Hand:
    acts = [list(x)]
    for Wl, Bl in zip(W, B):
        prev = acts[-1]
        zs = [sum(w * p for w, p in zip(row, prev)) + b for row, b in zip(Wl, Bl)]
        acts.append([math.tanh(z) for z in zs])
    out = acts[-1][0]
    delta: Matrix = [[] for _ in W]
    delta[-1] = [2.0 * (out - y) * (1.0 - out * out)]
    for li in range(len(W) - 2, -1, -1):
        nxt = W[li + 1]
        delta[li] = [
            (1.0 - a * a) * sum(nxt[k][j] * delta[li + 1][k] for k in range(len(nxt)))
            for j, a in enumerate(acts[li + 1])
        ]
    dW = [[[d * xi for xi in acts[li]] for d in delta[li]] for li in range(len(W))]
    return Hand(acts, delta, dW, [list(d) for d in delta])


def random_params(sizes: list[int], rng: random.Random) -> tuple[list[Matrix], Matrix]:
    W = [
        [[rng.uniform(-1, 1) for _ in range(n)] for _ in range(m)]
        for n, m in itertools.pairwise(sizes)
    ]
    B = [[rng.uniform(-1, 1) for _ in range(m)] for m in sizes[1:]]
    return W, B


X, Y = [1.5, -0.5], 1.0


@pytest.fixture
def mlp231() -> tuple[Net, Hand, list[Matrix], Matrix]:
    W, B = random_params([2, 3, 1], random.Random(7))
    net = build(X, W, B, Y)
    net.loss.backward()
    return net, hand_backprop(X, W, B, Y), W, B


def all_params(net: Net) -> list[tuple[int, int, int, Value]]:
    """(layer, neuron, input index or -1 for the bias, Value)."""
    out = []
    for li, layer in enumerate(net.w):
        for j, ws in enumerate(layer):
            out.extend((li, j, i, w) for i, w in enumerate(ws))
            out.append((li, j, -1, net.b[li][j]))
    return out


# ---------------------------------------------------------------------------------------------
# The numbers


def test_every_weight_explanation_adds_up_to_its_grad_exactly(mlp231: tuple) -> None:
    net, _, _, _ = mlp231
    params = all_params(net)
    assert len(params) == 2 * 3 + 3 + 3 * 1 + 1
    for li, j, i, v in params:
        e = explain_grad(v, net.loss)
        assert e.grad == v.grad, (li, j, i)
        assert e.total == v.grad, f"layer {li} neuron {j} input {i}: {e.total!r} != {v.grad!r}"
        assert e.matches and not e.notes


def test_weight_grad_is_delta_times_input(mlp231: tuple) -> None:
    net, hand, _, _ = mlp231
    for li, j, i, v in all_params(net):
        nr = explain_grad(v, net.loss).neuron
        assert nr is not None
        assert nr.z is net.z[li][j] and nr.activation is net.a[li][j]
        assert nr.role == ("bias" if i < 0 else "weight") and nr.index == i
        x_hand = 1.0 if i < 0 else hand.acts[li][i]
        assert nr.x == pytest.approx(x_hand, rel=1e-12)
        assert nr.delta == pytest.approx(hand.delta[li][j], rel=1e-12)
        want = hand.dB[li][j] if i < 0 else hand.dW[li][j][i]
        assert nr.delta * nr.x == pytest.approx(want, rel=1e-12)


def test_delta_is_dL_da_times_da_dz_with_tanh_derivative(mlp231: tuple) -> None:
    net, hand, _, _ = mlp231
    for li, j, _, v in all_params(net):
        nr = explain_grad(v, net.loss).neuron
        assert nr is not None and nr.dL_da is not None and nr.da_dz is not None
        a = hand.acts[li + 1][j]
        assert nr.da_dz == pytest.approx(1.0 - a * a, rel=1e-12)  # tanh' = 1 - tanh^2
        assert nr.dL_da * nr.da_dz == pytest.approx(hand.delta[li][j], rel=1e-12)


def test_output_neuron_dL_da_is_the_loss_derivative(mlp231: tuple) -> None:
    net, hand, _, _ = mlp231
    nr = explain_grad(net.w[1][0][0], net.loss).neuron
    assert nr is not None
    assert nr.dL_da == pytest.approx(2.0 * (hand.acts[-1][0] - Y), rel=1e-12)


def test_hidden_delta_is_f_prime_times_sum_of_next_layer_weighted_deltas() -> None:
    # 2-3-2-1: a hidden neuron of layer 0 feeds the 2 neurons of layer 1, so k runs over two.
    W, B = random_params([2, 3, 2, 1], random.Random(11))
    net = build(X, W, B, Y)
    net.loss.backward()
    hand = hand_backprop(X, W, B, Y)
    for j in range(3):
        e = explain_grad(net.w[0][j][1], net.loss)
        nr = e.neuron
        assert nr is not None and nr.da_dz is not None
        up = e.upstream
        assert up is not None and up is nr.upstream and up.value is net.a[0][j]
        assert len(up.terms) == 2
        for k, t in enumerate(up.terms):
            assert t.consumer is net.z[1][k]
            assert t.neuron is not None and t.neuron.role == "input" and t.neuron.index == j
            assert t.local == W[1][k][j]  # w_kj
            assert t.consumer_grad == pytest.approx(hand.delta[1][k], rel=1e-12)  # delta_k
        recursion = nr.da_dz * sum(W[1][k][j] * hand.delta[1][k] for k in range(2))
        assert recursion == pytest.approx(hand.delta[0][j], rel=1e-12)
        assert nr.da_dz * up.total == pytest.approx(hand.delta[0][j], rel=1e-12)
        assert up.total == pytest.approx(net.a[0][j].grad, rel=1e-12)


def test_weight_grads_match_pytorch_float64(mlp231: tuple, torch: ModuleType) -> None:
    net, _, W, B = mlp231
    tw = [torch.tensor(Wl, dtype=torch.float64, requires_grad=True) for Wl in W]
    tb = [torch.tensor(Bl, dtype=torch.float64, requires_grad=True) for Bl in B]
    h = torch.tensor(X, dtype=torch.float64)
    for Wl, Bl in zip(tw, tb):
        h = torch.tanh(Wl @ h + Bl)
    ((h[0] - Y) ** 2).backward()
    for li, j, i, v in all_params(net):
        want = (tb[li].grad[j] if i < 0 else tw[li].grad[j, i]).item()
        assert explain_grad(v, net.loss).total == pytest.approx(want, rel=1e-12, abs=1e-15)


def test_weight_grad_matches_central_difference(mlp231: tuple) -> None:
    net, _, W, B = mlp231

    def loss_at(li: int, j: int, i: int, shift: float) -> float:
        W2 = [[list(r) for r in Wl] for Wl in W]
        B2 = [list(Bl) for Bl in B]
        if i < 0:
            B2[li][j] += shift
        else:
            W2[li][j][i] += shift
        return build(X, W2, B2, Y).loss.data

    eps = 1e-6
    for li, j, i, v in all_params(net):
        num = (loss_at(li, j, i, eps) - loss_at(li, j, i, -eps)) / (2 * eps)
        assert explain_grad(v, net.loss).total == pytest.approx(num, rel=1e-5, abs=1e-8)


@given(st.lists(st.floats(-1.5, 1.5), min_size=13, max_size=13), st.floats(-1, 1))
def test_explanations_add_up_for_any_weights(flat: list[float], y: float) -> None:
    W = [[flat[0:2], flat[2:4], flat[4:6]], [flat[6:9]]]
    B = [flat[9:12], flat[12:13]]
    net = build(X, W, B, y)
    net.loss.backward()
    hand = hand_backprop(X, W, B, y)
    for li, j, i, v in all_params(net):
        e = explain_grad(v, net.loss)
        assert e.total == v.grad
        want = hand.dB[li][j] if i < 0 else hand.dW[li][j][i]
        assert e.total == pytest.approx(want, rel=1e-9, abs=1e-12)


# ---------------------------------------------------------------------------------------------
# Several routes at the weight's own level


def test_l2_penalty_adds_a_second_route_and_the_routes_sum_to_grad() -> None:
    W, B = random_params([2, 3, 1], random.Random(3))
    net = build(X, W, B, Y)
    lam = 0.1
    w = net.w[0][1][0]
    total_loss = net.loss + lam * w**2
    total_loss.backward()
    hand = hand_backprop(X, W, B, Y)
    e = explain_grad(w, total_loss)
    assert len(e.terms) == 2
    data_route, penalty_route = e.terms
    assert data_route.neuron is not None and data_route.neuron.role == "weight"
    assert penalty_route.neuron is None
    assert data_route.product == pytest.approx(hand.dW[0][1][0], rel=1e-12)
    assert penalty_route.product == pytest.approx(lam * 2 * W[0][1][0], rel=1e-12)  # d(l w^2)/dw
    assert e.total == pytest.approx(hand.dW[0][1][0] + lam * 2 * W[0][1][0], rel=1e-12)
    assert e.total == w.grad and e.matches
    text = str(e)
    assert "2 routes" in text
    assert f"= {e.total:.4f}  (matches .grad = {w.grad:.4f})" in text


def test_a_weight_shared_by_two_neurons_sums_both_deltas() -> None:
    shared = Value(0.7, label="w_shared")
    x1, x2 = Value(0.3, label="x1"), Value(-1.2, label="x2")
    with autograd.scope("n1"):
        a1 = autograd.dot([shared], [x1]).sigmoid()
    with autograd.scope("n2"):
        a2 = autograd.dot([shared], [x2]).sigmoid()
    L = a1 * a2
    L.backward()
    e = explain_grad(shared, L)
    assert [t.neuron.name for t in e.terms if t.neuron] == ["n1", "n2"]
    s1, s2 = 1 / (1 + math.exp(-0.7 * 0.3)), 1 / (1 + math.exp(0.7 * 1.2))
    d1 = s2 * s1 * (1 - s1)  # delta of n1 = dL/da1 * sigma'(z1)
    d2 = s1 * s2 * (1 - s2)
    assert e.terms[0].product == pytest.approx(d1 * 0.3, rel=1e-12)
    assert e.terms[1].product == pytest.approx(d2 * -1.2, rel=1e-12)
    assert e.total == pytest.approx(shared.grad, rel=1e-12)


def test_node_used_twice_by_one_op_counts_each_use() -> None:
    w = Value(1.5, label="w")
    L = w * w
    L.backward()
    e = explain_grad(w, L)
    assert [t.position for t in e.terms] == [0, 1]
    assert [t.local for t in e.terms] == [1.5, 1.5]
    assert e.total == 3.0 == w.grad  # d(w^2)/dw = 2w


def test_no_path_enumeration_on_a_graph_with_2_pow_60_paths() -> None:
    x = Value(0.9, label="x")
    y = x
    for _ in range(60):
        y = y * 0.5 + y * 0.5  # each level doubles the number of paths from x to y
    y.backward()
    e = explain_grad(x, y)
    assert e.total == pytest.approx(1.0) and e.matches


def test_deep_chain_needs_no_recursion() -> None:
    x = Value(0.5, label="x")
    y = x
    for _ in range(20_000):
        y = y * 1.0
    y.backward()
    assert explain_grad(x, y).total == 1.0


# ---------------------------------------------------------------------------------------------
# Text


def _fmt(v: float) -> str:
    s = f"{v:.4f}"
    return f"({s})" if v < 0 else s


def test_text_teaches_weight_grad_as_delta_times_input_with_numbers() -> None:
    # The seed article's single neuron: z = w1 x1 + w2 x2 + b, a = sigmoid(z), L = (a - y)^2 / 2.
    x1, x2, w1, w2, b, y = 1.5, -0.5, 0.4, 0.3, 0.1, 1.0
    xs = [Value(x1, label="x1"), Value(x2, label="x2")]
    ws = [Value(w1, label="w1"), Value(w2, label="w2")]
    with autograd.scope("neuron"):
        z = autograd.dot(ws, xs, Value(b, label="b"))
        a = z.sigmoid()
    L = 0.5 * (a - y) ** 2
    L.backward()
    s = 1 / (1 + math.exp(-(w1 * x1 + w2 * x2 + b)))
    dl_da, da_dz = s - y, s * (1 - s)
    text = str(explain_grad(ws[0], L))
    want = (
        f"dL/dw1 = delta * x1 = (dL/da * da/dz) * x1 = ({_fmt(dl_da)} * {_fmt(da_dz)}) * 1.5000 "
        f"= {dl_da * da_dz * x1:.4f}  (matches .grad = {dl_da * da_dz * x1:.4f})"
    )
    assert want in text, text
    assert "neuron neuron" in text and "'x1'" in text and "sigmoid" in text


def test_text_shows_the_backprop_recursion_with_each_k() -> None:
    W, B = random_params([2, 3, 2, 1], random.Random(5))
    net = build(X, W, B, Y)
    net.loss.backward()
    hand = hand_backprop(X, W, B, Y)
    text = str(explain_grad(net.w[0][2][0], net.loss))
    assert "delta = f'(z) * sum_k w_kj * delta_k" in text, text
    for k in range(2):
        assert (
            f"k = neuron mlp.layer1.neuron{k}: w_kj = {W[1][k][2]:.4f} (w_2), "
            f"delta_k = {hand.delta[1][k]:.4f}" in text
        ), text
    assert f"matches z.grad = {hand.delta[0][2]:.4f}" in text


def test_str_is_the_text_field_and_repr_is_short() -> None:
    w = Value(2.0, label="w")
    L = (w * 3.0).tanh()
    L.backward()
    e = explain_grad(w, L)
    assert isinstance(e, Explanation)
    assert str(e) == e.text and "text=" not in repr(e)


# ---------------------------------------------------------------------------------------------
# Activations and neurons the table describes


def test_leaky_relu_is_recognised_as_an_activation() -> None:
    w, x = Value(-2.0, label="w"), Value(1.0, label="x")
    z = autograd.dot([w], [x])
    L = z.leaky_relu(0.1) * 3.0
    L.backward()
    nr = explain_grad(w, L).neuron
    assert nr is not None and nr.activation is not None and nr.activation.op == "leaky_relu"
    assert nr.da_dz == 0.1 and nr.dL_da == 3.0
    assert w.grad == pytest.approx(0.1 * 3.0 * 1.0)


def test_neuron_without_activation_has_delta_from_its_consumers() -> None:
    w, x = Value(0.5, label="w"), Value(2.0, label="x")
    z = autograd.dot([w], [x], Value(0.25))
    L = z * z + z  # z used twice: no single activation
    L.backward()
    e = explain_grad(w, L)
    nr = e.neuron
    assert nr is not None and nr.activation is None and nr.dL_da is None
    assert nr.delta == pytest.approx(2 * 1.25 + 1)  # d(z^2 + z)/dz
    assert e.upstream is not None and e.upstream.value is z
    assert e.upstream.total == pytest.approx(nr.delta)
    assert "delta * x = dL/dz * x" in str(e)


def test_user_defined_op_partials_come_from_its_table_row() -> None:
    cube = autograd.define_op("explain_cube", lambda x: x**3, lambda x, out: (3 * x * x,))
    w = Value(0.5, label="w")
    L = cube(w) * 2.0
    L.backward()
    (t,) = explain_grad(w, L).terms
    assert t.local == 3 * 0.25 and t.consumer_grad == 2.0 and t.product == w.grad


# ---------------------------------------------------------------------------------------------
# The root


def test_root_defaults_to_the_last_backward_root(mlp231: tuple) -> None:
    net, _, _, _ = mlp231
    w = net.w[0][0][1]
    e = explain_grad(w)
    assert e.root is net.loss
    assert e.total == explain_grad(w, net.loss).total == w.grad


def test_gradcheck_does_not_change_the_default_root(mlp231: tuple) -> None:
    net, _, _, _ = mlp231
    gradcheck(lambda a: a.tanh(), [0.3])
    assert explain_grad(net.w[0][0][0]).root is net.loss


def test_value_outside_the_graph_is_a_clear_value_error(mlp231: tuple) -> None:
    net, _, _, _ = mlp231
    with pytest.raises(ValueError, match="not in the graph of the root of the last backward"):
        explain_grad(Value(1.0))
    with pytest.raises(ValueError, match="not in the graph of root"):
        explain_grad(net.w[0][0][0], net.z[0][1])


def test_no_backward_in_this_thread_is_a_clear_value_error() -> None:
    caught: list[BaseException] = []

    def run() -> None:
        try:
            explain_grad(Value(1.0))
        except BaseException as e:  # reported to the main thread below
            caught.append(e)

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert len(caught) == 1 and isinstance(caught[0], ValueError)
    assert "backward() has not run in this thread" in str(caught[0])


def test_freed_last_root_is_a_clear_value_error() -> None:
    w = Value(1.0)
    (w * 2.0).backward()  # the root is dropped right away
    with pytest.raises(ValueError, match="has been freed"):
        explain_grad(w)


def test_value_is_the_root() -> None:
    w = Value(2.0, label="w")
    L = w.exp()
    L.backward()
    e = explain_grad(L, L)
    assert e.terms == () and e.total == 1.0 == e.grad
    assert "is L itself" in str(e)


def test_not_a_value_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="value must be a Value"):
        explain_grad(1.0)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="root must be a Value"):
        explain_grad(Value(1.0), root=2.0)  # type: ignore[arg-type]


def test_explaining_before_backward_says_so() -> None:
    w = Value(2.0)
    L = w * 3.0
    e = explain_grad(w, L)
    assert e.total == 0.0 and any("backward() has not run" in n for n in e.notes)


def test_a_grad_changed_after_backward_is_flagged() -> None:
    w = Value(2.0, label="w")
    L = (w * 3.0).tanh()
    L.backward()
    w.grad = 0.0  # zeroed by hand, but the graph still holds this pass's gradients
    e = explain_grad(w, L)
    assert not e.matches and e.total == pytest.approx(3 * (1 - math.tanh(6.0) ** 2))
    assert e.notes and "but .grad = 0.0000" in str(e)


# ---------------------------------------------------------------------------------------------
# nn.MLP builds the same graph


def test_nn_mlp_weights_over_a_batch_sum_one_route_per_sample(torch: ModuleType) -> None:
    import nn

    model = nn.MLP(2, [3, 1], seed=0)  # tanh hidden layer, linear output
    data = [([1.5, -0.5], 1.0), ([0.2, 0.8], -1.0), ([-1.0, 0.3], 0.5)]
    loss = autograd.sum((model(x) - y) ** 2 for x, y in data)  # type: ignore[operator]
    loss.backward()

    tw = [
        torch.tensor([[w.data for w in n.w] for n in layer.neurons], requires_grad=True)
        for layer in model.layers
    ]
    tb = [
        torch.tensor([n.b.data for n in layer.neurons], requires_grad=True)
        for layer in model.layers
    ]
    t_loss = torch.zeros((), dtype=torch.float64)
    for x, y in data:
        h = torch.tensor(x, dtype=torch.float64)
        h = torch.tanh(tw[0] @ h + tb[0])
        t_loss = t_loss + ((tw[1] @ h + tb[1])[0] - y) ** 2
    t_loss.backward()

    for li, layer in enumerate(model.layers):
        for j, neuron in enumerate(layer.neurons):
            for i, v in [*enumerate(neuron.w), (-1, neuron.b)]:
                e = explain_grad(v, loss)
                assert len(e.terms) == len(data)  # the weight is reused once per sample
                for t in e.terms:
                    nr = t.neuron
                    assert nr is not None and nr.name == f"layers.{li}.neurons.{j}"
                    assert (nr.activation is None) == (li == 1)  # linear output neuron
                    assert t.product == nr.delta * nr.x
                want = (tb[li].grad[j] if i < 0 else tw[li].grad[j, i]).item()
                assert e.total == pytest.approx(v.grad, rel=1e-12, abs=1e-15)
                assert e.total == pytest.approx(want, rel=1e-12, abs=1e-15)
                assert "3 routes" in str(e)
