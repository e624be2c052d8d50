"""What a PyTorch or micrograd user tries beyond the issues' lists: pickling a graph or a model
after a forward pass, subclassing Module PyTorch style, formatting a loss in an f-string."""

from __future__ import annotations

import copy
import math
import pickle

import pytest

import autograd
import nn
from autograd import Value


def tanh_plus_square(x: Value) -> Value:
    return (x * 3).tanh() + x**2


def d_tanh_plus_square(x: float) -> float:
    """d/dx [tanh(3x) + x^2] = 3 (1 - tanh^2(3x)) + 2x, by hand."""
    return 3 * (1 - math.tanh(3 * x) ** 2) + 2 * x


@pytest.mark.parametrize("x0", [-0.7, 0.2, 1.3])
def test_pickled_graph_backpropagates_the_hand_derivative(x0: float) -> None:
    y = tanh_plus_square(Value(x0, label="x"))
    copy_y = pickle.loads(pickle.dumps(y))
    copy_y.backward()
    x = copy_y.parents[1].parents[0]
    assert x.label == "x"
    assert x.grad == pytest.approx(d_tanh_plus_square(x0), rel=1e-12)
    assert copy_y.op_info is y.op_info, "an unpickled node must point at the table's own row"


def test_deepcopied_graph_keeps_the_op_table_rows() -> None:
    y = tanh_plus_square(Value(0.4))
    d = copy.deepcopy(y)
    assert d.op_info is autograd.get_op("add")
    assert d.parents[0].op_info is autograd.get_op("tanh")


def test_user_defined_op_survives_pickle_in_the_same_process() -> None:
    cube = autograd.define_op(
        "review_cube", lambda a: a**3, lambda a, out: (3 * a * a,), symbol="^3"
    )
    y = pickle.loads(pickle.dumps(cube(Value(2.0))))
    y.backward()
    assert (y.op, y.data, y.parents[0].grad) == ("review_cube", 8.0, 12.0)


def test_model_pickles_after_a_forward_pass_and_predicts_the_same() -> None:
    m = nn.MLP(2, [4, 1], seed=0)
    out = m([0.5, -1.0])
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.state_dict() == m.state_dict()
    assert m2([0.5, -1.0]).data == out.data


class TorchStyle(nn.Module):
    """A module written as in PyTorch: attributes only, no hooks overridden."""

    def __init__(self) -> None:
        self.hidden = nn.Layer(2, 3, seed=0)
        self.heads = [nn.Neuron(3, activation="linear", seed=1)]
        self.scale = Value(2.0)
        self.bias = Value(0.5)

    def __call__(self, x: list[float]) -> Value:
        h = self.hidden(x)
        assert isinstance(h, list)
        self._last = self.heads[0](h) * self.scale + self.bias  # per-call: skipped by the _
        return self._last


def test_torch_style_module_owns_its_attributes_parameters_in_order() -> None:
    m = TorchStyle()
    m([1.0, -2.0])
    names = [n for n, _ in m.named_parameters()]
    # as in PyTorch: a module's own parameters first, then each child's, in attribute order
    expected = (
        ["scale", "bias"]
        + [f"hidden.neurons.{j}.{k}" for j in range(3) for k in ("w.0", "w.1", "b")]
        + ["heads.0.w.0", "heads.0.w.1", "heads.0.w.2", "heads.0.b"]
    )
    assert names == expected
    assert m.parameters() == [m.scale, m.bias, *m.hidden.parameters(), *m.heads[0].parameters()]
    assert m.biases() == [m.bias, *m.hidden.biases(), *m.heads[0].biases()]


def test_torch_style_module_trains_every_parameter_by_sgd() -> None:
    m = TorchStyle()
    before = m.state_dict()
    opt = nn.SGD(m, lr=0.1)
    opt.zero_grad()
    loss = nn.mse_loss([m([1.0, -2.0])], [3.0])
    loss.backward()
    grads = {n: p.grad for n, p in m.named_parameters()}
    opt.step()
    after = m.state_dict()
    for n, g in grads.items():
        assert after[n] == before[n] - 0.1 * g, n
    assert grads["scale"] != 0.0 and grads["bias"] != 0.0


def test_value_formats_its_number_like_a_zero_dim_tensor() -> None:
    v = Value(math.pi, label="loss")
    assert f"{v:.4f}" == "3.1416"
    assert f"{v:>8.2f}" == "    3.14"
    assert f"{v}" == str(v) == repr(v)
