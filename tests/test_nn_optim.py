"""SGD and Adam against torch.optim (float64): 30-step trajectories to 1e-9 with weight
decay, momentum, Nesterov, changed learning rates, and a whole MLP trained side by side."""

from __future__ import annotations

import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from autograd import Value
from tests.conftest import require_torch

STEPS = 30
START = [0.5, -1.25, 2.0, 0.0, -0.3]


def grad_of(p: float, i: int) -> float:
    """A fixed non-convex gradient field (the same function feeds both optimizers)."""
    return (i + 1) * 0.3 * p + math.sin(3.0 * p) - 0.1 * i + 0.05


def run_pair(
    make_ours: Any, make_torch: Any, lr_change: float | None = None
) -> tuple[list[list[float]], list[list[float]]]:
    torch = require_torch()
    ours = [Value(x) for x in START]
    theirs = torch.tensor(START, requires_grad=True)
    opt = make_ours(ours)
    topt = make_torch([theirs])
    traj_a, traj_b = [], []
    for step in range(STEPS):
        if lr_change is not None and step == STEPS // 2:
            opt.lr = lr_change
            for g in topt.param_groups:
                g["lr"] = lr_change
        opt.zero_grad()
        for i, p in enumerate(ours):
            p.grad = grad_of(p.data, i)
        opt.step()
        topt.zero_grad()
        theirs.grad = torch.tensor([grad_of(x, i) for i, x in enumerate(theirs.tolist())])
        topt.step()
        traj_a.append([p.data for p in ours])
        traj_b.append(theirs.tolist())
    return traj_a, traj_b


def assert_same_trajectory(a: list[list[float]], b: list[list[float]]) -> None:
    for step, (xs, ys) in enumerate(zip(a, b)):
        for i, (x, y) in enumerate(zip(xs, ys)):
            assert abs(x - y) <= 1e-9 * max(1.0, abs(y)), (
                f"step {step + 1}, param {i}: ours {x!r}, torch {y!r}"
            )


sgd_cases = [
    {},
    {"momentum": 0.9},
    {"weight_decay": 0.05},
    {"momentum": 0.9, "weight_decay": 0.01},
    {"momentum": 0.9, "nesterov": True},
    {"momentum": 0.5, "weight_decay": 0.1, "nesterov": True},
]


@pytest.mark.parametrize("kw", sgd_cases, ids=lambda kw: ",".join(kw) or "plain")
def test_sgd_trajectory_equals_torch_over_30_steps(kw: dict[str, Any]) -> None:
    torch = require_torch()
    a, b = run_pair(
        lambda ps: nn.SGD(ps, lr=0.05, **kw),
        lambda ps: torch.optim.SGD(ps, lr=0.05, **kw),
        lr_change=0.02,
    )
    assert_same_trajectory(a, b)


adam_cases = [
    {},
    {"weight_decay": 0.1},
    {"betas": (0.5, 0.9), "eps": 1e-6},
    {"betas": (0.3, 0.99), "weight_decay": 0.01},
]


@pytest.mark.parametrize("kw", adam_cases, ids=lambda kw: ",".join(kw) or "default")
def test_adam_trajectory_equals_torch_over_30_steps(kw: dict[str, Any]) -> None:
    torch = require_torch()
    a, b = run_pair(
        lambda ps: nn.Adam(ps, lr=0.1, **kw),
        lambda ps: torch.optim.Adam(ps, lr=0.1, **kw),
        lr_change=0.03,
    )
    assert_same_trajectory(a, b)


@settings(max_examples=15)
@given(
    lr=st.floats(1e-4, 0.2),
    momentum=st.floats(0.0, 0.99),
    wd=st.floats(0.0, 0.5),
    nesterov=st.booleans(),
)
def test_sgd_matches_torch_for_any_hyperparameters(
    lr: float, momentum: float, wd: float, nesterov: bool
) -> None:
    torch = require_torch()
    nesterov = nesterov and momentum > 0.0
    kw = {"lr": lr, "momentum": momentum, "weight_decay": wd, "nesterov": nesterov}
    assert_same_trajectory(
        *run_pair(lambda ps: nn.SGD(ps, **kw), lambda ps: torch.optim.SGD(ps, **kw))
    )


@settings(max_examples=15)
@given(
    lr=st.floats(1e-4, 0.2),
    b1=st.floats(0.0, 0.99),
    b2=st.floats(0.5, 0.9999),
    wd=st.floats(0.0, 0.5),
)
def test_adam_matches_torch_for_any_hyperparameters(
    lr: float, b1: float, b2: float, wd: float
) -> None:
    torch = require_torch()
    kw = {"lr": lr, "betas": (b1, b2), "weight_decay": wd}
    assert_same_trajectory(
        *run_pair(lambda ps: nn.Adam(ps, **kw), lambda ps: torch.optim.Adam(ps, **kw))
    )


@pytest.mark.parametrize("which", ["sgd", "adam"])
def test_mlp_training_equals_torch_side_by_side(which: str) -> None:
    """Same 2-4-1 tanh net, hinge loss + L2 penalty on the weights, 30 optimizer steps."""
    torch = require_torch()
    X, y = nn.data.make_moons(n=12, noise=0.1, seed=3)
    model = nn.MLP(2, [4, 1], activation="tanh", seed=4)
    W = [
        torch.tensor([[w.data for w in n.w] for n in layer.neurons], requires_grad=True)
        for layer in model.layers
    ]
    B = [
        torch.tensor([n.b.data for n in layer.neurons], requires_grad=True)
        for layer in model.layers
    ]
    if which == "sgd":
        opt: nn.Optimizer = nn.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        topt = torch.optim.SGD([*W, *B], lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        opt = nn.Adam(model.parameters(), lr=0.05, weight_decay=1e-3)
        topt = torch.optim.Adam([*W, *B], lr=0.05, weight_decay=1e-3)
    Xt = torch.tensor(X)
    yt = torch.tensor(y, dtype=torch.float64)
    for _ in range(STEPS):
        opt.zero_grad()
        scores = [model(x) for x in X]
        loss = nn.hinge_loss(scores, y) + nn.l2_penalty(model, 1e-3)
        loss.backward()
        opt.step()
        topt.zero_grad()
        h = torch.tanh(Xt @ W[0].T + B[0])
        s = (h @ W[1].T + B[1]).flatten()
        tloss = torch.relu(1 - yt * s).mean() + 1e-3 * (W[0].pow(2).sum() + W[1].pow(2).sum())
        tloss.backward()
        topt.step()
        assert abs(loss.data - tloss.item()) <= 1e-9
    for li, layer in enumerate(model.layers):
        for j, n in enumerate(layer.neurons):
            for i, w in enumerate(n.w):
                assert abs(w.data - W[li][j, i].item()) <= 1e-9, (li, j, i)
            assert abs(n.b.data - B[li][j].item()) <= 1e-9, (li, j)


def test_sgd_step_is_minus_lr_times_grad() -> None:
    p = Value(1.0)
    p.grad = 2.0
    nn.SGD([p], lr=0.25).step()
    assert p.data == 0.5  # the seed article's w_new = w_old - eta * dL/dw


def test_adam_first_step_moves_each_param_by_lr() -> None:
    ps = [Value(1.0), Value(-2.0)]
    ps[0].grad, ps[1].grad = 3.0, -0.5
    nn.Adam(ps, lr=0.01).step()
    # bias-corrected m/sqrt(v) = sign(g) on the first step
    assert ps[0].data == pytest.approx(0.99, abs=1e-9)
    assert ps[1].data == pytest.approx(-1.99, abs=1e-9)


def test_zero_grad_and_module_params() -> None:
    model = nn.MLP(2, [2, 1], seed=0)
    opt = nn.SGD(model, lr=0.1)
    assert opt.params == model.parameters()
    for p in model.parameters():
        p.grad = 1.0
    opt.zero_grad()
    assert all(p.grad == 0.0 for p in model.parameters())


def test_state_dict_has_torch_layout() -> None:
    ps = [Value(1.0), Value(2.0)]
    opt = nn.SGD(ps, lr=0.1, momentum=0.9)
    assert opt.state_dict() == {
        "state": {},
        "param_groups": [
            {
                "lr": 0.1,
                "momentum": 0.9,
                "dampening": 0.0,
                "weight_decay": 0.0,
                "nesterov": False,
                "params": [0, 1],
            }
        ],
    }
    ps[0].grad, ps[1].grad = 1.0, -1.0
    opt.step()
    assert opt.state_dict()["state"] == {0: {"momentum_buffer": 1.0}, 1: {"momentum_buffer": -1.0}}
    adam = nn.Adam(ps, lr=0.1)
    adam.step()
    sd = adam.state_dict()
    assert sd["param_groups"][0]["betas"] == (0.9, 0.999)
    assert sd["state"][1]["step"] == 1.0
    assert sd["state"][1]["exp_avg"] == pytest.approx(-0.1)
    assert sd["state"][1]["exp_avg_sq"] == pytest.approx(0.001)


def test_lr_is_assignable_and_checked() -> None:
    opt = nn.Adam([Value(1.0)])
    assert opt.lr == 1e-3
    opt.lr = 0.5
    assert opt.lr == 0.5
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0


@pytest.mark.parametrize(
    ("call", "err", "match"),
    [
        (lambda: nn.SGD([], lr=0.1), ValueError, "empty parameter list"),
        (lambda: nn.SGD([Value(1.0), 2.0], lr=0.1), TypeError, r"params\[1\]"),
        (lambda: nn.SGD(Value(1.0), lr=0.1), TypeError, "not one Value"),
        (lambda: nn.SGD([Value(1.0)], lr=-0.1), ValueError, "lr"),
        (lambda: nn.SGD([Value(1.0)], lr=0.1, momentum=-0.5), ValueError, "momentum"),
        (lambda: nn.SGD([Value(1.0)], lr=0.1, nesterov=True), ValueError, "Nesterov"),
        (lambda: nn.SGD([Value(1.0)], lr=math.nan), ValueError, "lr"),
        (lambda: nn.Adam([Value(1.0)], betas=(1.0, 0.9)), ValueError, "beta1"),
        (lambda: nn.Adam([Value(1.0)], betas=(0.9,)), TypeError, "betas"),  # type: ignore[arg-type]
        (lambda: nn.Adam([Value(1.0)], eps=-1.0), ValueError, "eps"),
        (lambda: nn.Adam([Value(1.0)], weight_decay="x"), TypeError, "weight_decay"),
    ],
)
def test_bad_arguments_raise_clear_errors(call: object, err: type[Exception], match: str) -> None:
    with pytest.raises(err, match=match):
        call()  # type: ignore[operator]


def test_duplicate_parameters_are_refused() -> None:
    p = Value(1.0)
    with pytest.raises(ValueError, match="twice"):
        nn.SGD([p, p], lr=0.1)


# -- a None grad means "no gradient"; a step updates all parameters or none ------------------

OPTS: list[tuple[str, dict[str, Any]]] = [
    ("SGD", {"lr": 0.05}),
    ("SGD", {"lr": 0.05, "momentum": 0.9, "weight_decay": 0.1}),
    ("SGD", {"lr": 0.05, "momentum": 0.5, "nesterov": True}),
    ("Adam", {"lr": 0.1}),
    ("Adam", {"lr": 0.1, "weight_decay": 0.05, "betas": (0.6, 0.9)}),
]


@settings(max_examples=25)
@given(
    case=st.sampled_from(OPTS),
    # which parameters have grad None at each of 8 steps (a parameter the loss never reaches)
    masks=st.lists(st.lists(st.booleans(), min_size=5, max_size=5), min_size=8, max_size=8),
)
def test_none_grad_is_skipped_as_torch_optim_does(
    case: tuple[str, dict[str, Any]], masks: list[list[bool]]
) -> None:
    torch = require_torch()
    name, kw = case
    ours = [Value(x) for x in START]
    theirs = [torch.tensor(x, requires_grad=True) for x in START]
    opt = getattr(nn, name)(ours, **kw)
    topt = getattr(torch.optim, name)(theirs, **kw)
    for step, none in enumerate(masks):
        for i, (p, q) in enumerate(zip(ours, theirs)):
            if none[i]:
                p.grad = None
                q.grad = None
            else:
                p.grad = grad_of(p.data, i)
                q.grad = torch.tensor(grad_of(q.item(), i))
        opt.step()
        topt.step()
        for i, (p, q) in enumerate(zip(ours, theirs)):
            assert abs(p.data - q.item()) <= 1e-9 * max(1.0, abs(q.item())), (
                f"{name} {kw} step {step + 1}, param {i}: ours {p.data!r}, torch {q.item()!r}"
            )
    # the optimizer state holds exactly the parameters torch holds state for
    ours_state = opt.state_dict()["state"]
    torch_state = topt.state_dict()["state"]
    if name == "Adam" or kw.get("momentum"):
        assert sorted(ours_state) == sorted(torch_state)
    for i, s in ours_state.items():
        for key, val in s.items():
            assert val == pytest.approx(float(torch_state[i][key]), rel=1e-9, abs=1e-12), key


BAD_GRADS = ["0.5", [1.0], Value(1.0), True, complex(1, 1)]


@settings(max_examples=40)
@given(
    case=st.sampled_from(OPTS),
    bad_at=st.integers(0, 4),
    bad=st.sampled_from(BAD_GRADS),
    warm=st.integers(0, 2),
)
def test_a_step_with_a_non_number_grad_changes_nothing(
    case: tuple[str, dict[str, Any]], bad_at: int, bad: object, warm: int
) -> None:
    name, kw = case
    ps = [Value(x, label=f"p{i}") for i, x in enumerate(START)]
    opt = getattr(nn, name)(ps, **kw)
    for _ in range(warm):  # some state (momentum buffers, Adam moments) to keep intact
        for i, p in enumerate(ps):
            p.grad = grad_of(p.data, i)
        opt.step()
    for i, p in enumerate(ps):
        p.grad = grad_of(p.data, i)
    ps[bad_at].grad = bad  # type: ignore[assignment]
    before = ([p.data for p in ps], opt.state_dict(), getattr(opt, "t", None))
    with pytest.raises(TypeError, match=rf"{name}\.step: params\[{bad_at}\] 'p{bad_at}'"):
        opt.step()
    assert ([p.data for p in ps], opt.state_dict(), getattr(opt, "t", None)) == before


def test_adam_counts_steps_per_parameter_like_torch() -> None:
    """A parameter first reached at step 3 gets the bias correction of its own first step:
    it moves by exactly lr (Adam's first update is lr * sign(g))."""
    ps = [Value(1.0), Value(1.0)]
    opt = nn.Adam(ps, lr=0.1)
    for _ in range(2):
        ps[0].grad, ps[1].grad = 0.5, None
        opt.step()
    assert ps[1].data == 1.0 and opt.state_dict()["state"].keys() == {0}
    ps[0].grad, ps[1].grad = 0.5, 3.0
    opt.step()
    assert ps[1].data == pytest.approx(0.9, abs=1e-8)  # eps shifts it by 3e-10
    assert opt.state_dict()["state"][1]["step"] == 1.0
