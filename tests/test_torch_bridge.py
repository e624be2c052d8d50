"""nn.MLP.to_torch / from_torch: the same network in PyTorch float64, numbers unchanged.

The oracle is PyTorch itself: outputs and every parameter's gradient of the converted module
against ours (rtol 1e-12) on random nets and inputs; five SGD steps in torch against five of
ours; from_torch's errors name the first layer that does not fit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import autograd
import nn
from tests.conftest import require_torch

ROOT = Path(__file__).resolve().parents[1]
ACTS = ["tanh", "relu", "sigmoid", "leaky_relu", "linear"]
RTOL, ATOL = 1e-12, 1e-14  # atol only for gradients that cancel to ~1e-17 (relu kinks, sums)


def _ours(model: nn.MLP, x: list[float], target: list[float]) -> tuple[list[float], list[float]]:
    """Outputs and the gradient of L = sum (out - t)^2 for each parameter, in torch's order."""
    model.zero_grad()
    out = model(x)
    outs = [out] if not isinstance(out, list) else out
    loss = autograd.sum([(o - t) ** 2 for o, t in zip(outs, target)])
    loss.backward()
    grads: list[float] = []
    for layer in model.layers:  # torch: weight (out, in) row-major, then bias
        grads += [w.grad for n in layer.neurons for w in n.w]
        grads += [n.b.grad for n in layer.neurons]
    return [o.data for o in outs], grads


def _theirs(
    torch: ModuleType, module: Any, x: list[float], target: list[float]
) -> tuple[list[float], list[float]]:
    module.zero_grad()
    out = module(torch.tensor(x, dtype=torch.float64))
    loss = ((out - torch.tensor(target, dtype=torch.float64)) ** 2).sum()
    loss.backward()
    grads: list[float] = []
    for p in module.parameters():
        grads += p.grad.reshape(-1).tolist()
    return out.tolist(), grads


@given(
    sizes=st.lists(st.integers(1, 4), min_size=1, max_size=3),
    nin=st.integers(1, 4),
    act=st.sampled_from(ACTS),
    out_act=st.sampled_from(ACTS),
    seed=st.integers(0, 2**16),
)
def test_to_torch_outputs_and_every_parameter_gradient_equal_ours(
    sizes: list[int], nin: int, act: str, out_act: str, seed: int
) -> None:
    torch = require_torch()
    model = nn.MLP(nin, sizes, activation=act, output_activation=out_act, seed=seed)
    module = model.to_torch()
    assert isinstance(module, torch.nn.Module)
    linears = [m for m in module if isinstance(m, torch.nn.Linear)]
    assert [(m.in_features, m.out_features) for m in linears] == list(zip([nin, *sizes], sizes))
    assert all(p.dtype == torch.float64 for p in module.parameters())
    rng = np.random.default_rng(seed)
    for _ in range(3):
        x = rng.uniform(-2, 2, nin).tolist()
        t = rng.uniform(-1, 1, sizes[-1]).tolist()
        ours, g_ours = _ours(model, x, t)
        theirs, g_theirs = _theirs(torch, module, x, t)
        np.testing.assert_allclose(theirs, ours, rtol=RTOL, atol=ATOL, err_msg="outputs")
        np.testing.assert_allclose(g_theirs, g_ours, rtol=RTOL, atol=ATOL, err_msg="gradients")


def test_to_torch_copies_each_weight_to_its_linear_slot(torch: ModuleType) -> None:
    model = nn.MLP(3, [2, 1], activation="relu", seed=4)
    module = model.to_torch()
    assert [type(m).__name__ for m in module] == ["Linear", "ReLU", "Linear"]
    for li, lin in zip(range(2), (module[0], module[2])):
        for j, neuron in enumerate(model.layers[li].neurons):
            assert lin.weight[j].tolist() == [w.data for w in neuron.w]
            assert lin.bias[j].item() == neuron.b.data
    # A copy, not a view: changing torch's weights leaves ours alone.
    before = model.layers[0].neurons[0].w[0].data
    with torch.no_grad():
        module[0].weight.add_(1.0)
    assert model.layers[0].neurons[0].w[0].data == before
    leaky = nn.MLP(2, [2, 1], activation="leaky_relu", output_activation="sigmoid").to_torch()
    assert [type(m).__name__ for m in leaky] == ["Linear", "LeakyReLU", "Linear", "Sigmoid"]
    assert leaky[1].negative_slope == 0.01


def test_round_trip_five_sgd_steps_in_torch_equal_five_of_ours(torch: ModuleType) -> None:
    X, y = nn.data.make_moons(n=12, noise=0.1, seed=2)
    lr = 0.3
    model = nn.MLP(2, [4, 3, 1], activation="tanh", seed=11)
    module = model.to_torch()
    opt_t = torch.optim.SGD(module.parameters(), lr=lr)
    Xt = torch.tensor(X, dtype=torch.float64)
    yt = torch.tensor(y, dtype=torch.float64)
    for _ in range(5):
        opt_t.zero_grad()
        loss = ((module(Xt).squeeze(1) - yt) ** 2).mean()
        loss.backward()
        opt_t.step()
    opt = nn.SGD(model.parameters(), lr=lr)
    for _ in range(5):
        opt.zero_grad()
        nn.mse_loss([model(x) for x in X], list(y)).backward()
        opt.step()
    back = nn.MLP.from_torch(module)
    assert back.architecture() == model.architecture()
    got = back.state_dict()
    want = model.state_dict()
    assert list(got) == list(want)
    np.testing.assert_allclose(list(got.values()), list(want.values()), rtol=1e-12, atol=1e-15)
    # The trained weights really moved: the check compares trajectories, not the start.
    start = nn.MLP(2, [4, 3, 1], activation="tanh", seed=11).state_dict()
    assert max(abs(a - b) for a, b in zip(got.values(), start.values())) > 1e-3


def test_from_torch_reads_a_state_dict_with_the_activations_given(torch: ModuleType) -> None:
    model = nn.MLP(2, [3, 2], activation="sigmoid", seed=5)
    state = model.to_torch().state_dict()
    assert list(state) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    back = nn.MLP.from_torch(state, activation="sigmoid")
    assert back.state_dict() == model.state_dict()
    assert back.architecture() == model.architecture()
    x = [0.3, -1.2]
    assert [o.data for o in back(x)] == [o.data for o in model(x)]
    # Activations are read from a module; a conflicting keyword is refused.
    with pytest.raises(ValueError, match="activation='relu' but the module has 'sigmoid'"):
        nn.MLP.from_torch(model.to_torch(), activation="relu")


def test_from_torch_accepts_a_hand_made_torch_module(torch: ModuleType) -> None:
    torch.manual_seed(0)
    module = torch.nn.Sequential(
        torch.nn.Linear(2, 5), torch.nn.Tanh(), torch.nn.Linear(5, 1), torch.nn.Sigmoid()
    )  # float32: copied into float64 Values
    model = nn.MLP.from_torch(module)
    assert model.architecture() == {
        "type": "MLP", "nin": 2, "nouts": [5, 1], "activation": "tanh",
        "output_activation": "sigmoid",
    }  # fmt: skip
    x = [0.5, -0.25]
    want = module(torch.tensor(x)).item()
    assert model(x).data == pytest.approx(want, rel=1e-6)  # float32 forward in torch
    lone = nn.MLP.from_torch(torch.nn.Linear(3, 2, dtype=torch.float64))
    assert lone.nouts == [2] and lone.output_activation == "linear"


@pytest.mark.parametrize(
    "build, message",
    [
        (
            lambda t: t.nn.Sequential(t.nn.Linear(2, 3), t.nn.Dropout(0.1), t.nn.Linear(3, 1)),
            r"layer '1' \(Dropout\) does not fit: an nn.MLP is made of Linear",
        ),
        (
            lambda t: t.nn.Sequential(t.nn.Linear(2, 3), t.nn.ReLU(), t.nn.Linear(4, 1)),
            r"layer '2' does not fit: it takes 4 inputs but the layer before it has 3 outputs",
        ),
        (
            lambda t: t.nn.Sequential(t.nn.Linear(2, 3, bias=False), t.nn.ReLU()),
            r"layer '0' \(Linear\) does not fit: it has no bias",
        ),
        (
            lambda t: t.nn.Sequential(
                t.nn.Linear(2, 3), t.nn.ReLU(), t.nn.Linear(3, 3), t.nn.Tanh(), t.nn.Linear(3, 1)
            ),
            r"layer '2' \(Linear\) does not fit: it is followed by tanh but the layers before "
            r"it by relu",
        ),
        (
            lambda t: t.nn.Sequential(t.nn.Linear(2, 3), t.nn.LeakyReLU(0.2)),
            r"layer '1' \(LeakyReLU\) does not fit: negative_slope 0.2",
        ),
        (
            lambda t: t.nn.Sequential(t.nn.Linear(2, 3), t.nn.ReLU(), t.nn.Tanh()),
            r"layer '2' \(Tanh\) does not fit: a second activation",
        ),
        (
            lambda t: {"0.weight": t.zeros(3, 2), "0.bias": t.zeros(3), "1.weight": t.zeros(1, 3)},
            r"layer '1' does not fit: it has no bias",
        ),
        (
            lambda t: {"0.weight": t.zeros(3, 2), "0.bias": t.zeros(2)},
            r"layer '0' does not fit: weight \(3, 2\) and bias \(2,\)",
        ),
        (
            lambda t: {"0.weight": t.zeros(3, 2), "0.bias": t.zeros(3), "0.running_mean": 0},
            r"state_dict key '0.running_mean' does not fit",
        ),
    ],
)
def test_from_torch_names_the_first_layer_that_does_not_fit(
    torch: ModuleType, build: Any, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        nn.MLP.from_torch(build(torch))


def test_from_torch_refuses_what_is_no_module(torch: ModuleType) -> None:
    with pytest.raises(TypeError, match=r"expected a torch\.nn\.Module or a state_dict"):
        nn.MLP.from_torch([1, 2, 3])


def test_without_torch_an_import_error_gives_the_install_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now raises ImportError
    model = nn.MLP(2, [1])
    with pytest.raises(ImportError, match=r"MLP.to_torch needs PyTorch.*pip install torch"):
        model.to_torch()
    with pytest.raises(ImportError, match=r"MLP.from_torch needs PyTorch.*pip install torch"):
        nn.MLP.from_torch({})


def test_import_nn_does_not_import_torch() -> None:
    code = "import sys, nn; nn.MLP(2, [1]); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False", out.stderr
