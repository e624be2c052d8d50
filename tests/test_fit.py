"""nn.fit and History: the loop's numbers against PyTorch float64 and hand-derived formulas."""

from __future__ import annotations

import io
import json
import math
import sys
from typing import Any

import pytest

import autograd
import nn
from tests.conftest import require_torch

# Four points, two per class, separable by x0 + x1 = 0.
X4 = [[1.0, 0.5], [0.6, 1.2], [-0.8, -0.4], [-1.1, 0.2]]
Y4 = [1.0, 1.0, -1.0, -1.0]


def _torch_mlp(model: Any, torch: Any, activation: str) -> tuple[list[Any], Any]:
    """The same MLP in torch: per layer W (nout x nin) and b, both leaf tensors."""
    state = model.state_dict()
    params = []
    for li, layer in enumerate(model.layers):
        nout, nin = len(layer.neurons), len(layer.neurons[0].w)
        w = [[state[f"layers.{li}.neurons.{j}.w.{i}"] for i in range(nin)] for j in range(nout)]
        b = [state[f"layers.{li}.neurons.{j}.b"] for j in range(nout)]
        params.append(torch.tensor(w, requires_grad=True))
        params.append(torch.tensor(b, requires_grad=True))
    act = {"tanh": torch.tanh, "relu": torch.relu}[activation]

    def forward(x: Any) -> Any:
        h = x
        n = len(params) // 2
        for k in range(n):
            h = h @ params[2 * k].T + params[2 * k + 1]
            if k < n - 1:
                h = act(h)
        return h

    return params, forward


def _torch_state(params: list[Any]) -> dict[str, float]:
    out = {}
    for li in range(len(params) // 2):
        w, b = params[2 * li].detach(), params[2 * li + 1].detach()
        for j in range(w.shape[0]):
            for i in range(w.shape[1]):
                out[f"layers.{li}.neurons.{j}.w.{i}"] = float(w[j, i])
            out[f"layers.{li}.neurons.{j}.b"] = float(b[j])
    return out


def _assert_states_close(ours: dict[str, float], ref: dict[str, float], tol: float) -> None:
    assert ours.keys() == ref.keys()
    for k in ours:
        assert ours[k] == pytest.approx(ref[k], abs=tol, rel=tol), f"{k}: {ours[k]} vs {ref[k]}"


@pytest.mark.parametrize("batch_size", [None, 3])
def test_sgd_epochs_equal_torch_hinge_plus_l2_with_lr_schedule(batch_size: int | None) -> None:
    torch = require_torch()
    model = nn.MLP(2, [4, 1], activation="tanh", seed=0)
    params, forward = _torch_mlp(model, torch, "tanh")
    X, y = [*X4, [0.3, -0.9]], [*Y4, 1.0]
    schedule = [0.5, 0.3, 0.2]
    l2 = 0.01
    h = nn.fit(
        model, X, y, loss="hinge", epochs=3, batch_size=batch_size, l2=l2,
        lr_schedule=lambda k: schedule[k], progress=False,
    )  # fmt: skip
    xt, yt = torch.tensor(X), torch.tensor(y)
    size = batch_size or len(X)
    ref_losses = []
    for k in range(3):
        epoch_loss = 0.0
        for lo in range(0, len(X), size):
            s = forward(xt[lo : lo + size]).squeeze(1)
            data = torch.relu(1 - yt[lo : lo + size] * s).mean()
            pen = l2 * sum((p**2).sum() for p in params[0::2])  # weights only, not biases
            loss = data + pen
            for p in params:
                p.grad = None
            loss.backward()
            with torch.no_grad():
                for p in params:
                    p -= schedule[k] * p.grad
            epoch_loss += float(loss.detach()) * len(s)
        ref_losses.append(epoch_loss / len(X))
    _assert_states_close(model.state_dict(), _torch_state(params), 1e-12)
    assert h.loss == pytest.approx(ref_losses, rel=1e-12, abs=1e-12)
    assert h.lr == schedule


def test_adam_optimizer_is_used_as_given() -> None:
    torch = require_torch()
    model = nn.MLP(2, [3, 1], activation="relu", seed=4)
    params, forward = _torch_mlp(model, torch, "relu")
    opt = nn.Adam(model.parameters(), lr=0.05)
    nn.fit(model, X4, [0.5, 1.5, -1.0, 0.0], loss="mse", optimizer=opt, epochs=5, progress=False)
    topt = torch.optim.Adam(params, lr=0.05)
    xt, yt = torch.tensor(X4), torch.tensor([0.5, 1.5, -1.0, 0.0])
    for _ in range(5):
        topt.zero_grad()
        ((forward(xt).squeeze(1) - yt) ** 2).mean().backward()
        topt.step()
    _assert_states_close(model.state_dict(), _torch_state(params), 1e-10)


def test_training_decreases_loss_and_separates_the_data() -> None:
    model = nn.MLP(2, [4, 1], activation="tanh", seed=1)
    h = nn.fit(model, X4, Y4, epochs=40, progress=False)
    assert h.loss[-1] < h.loss[0] / 2, h.loss
    assert h.accuracy[-1] == 1.0


def test_history_has_one_entry_per_epoch_and_is_json() -> None:
    model = nn.MLP(2, [3, 1], seed=2)
    h = nn.fit(model, X4, Y4, epochs=7, progress=False)
    assert h.epochs == list(range(7))
    assert len(h) == 7
    for series in (h.loss, h.data_loss, h.accuracy, h.lr, h.weight_stats):
        assert len(series) == 7
    assert h.lr == [nn.train.DEFAULT_LR] * 7
    assert h.loss == h.data_loss  # no penalty: the objective is the data loss
    d = json.loads(json.dumps(h.as_dict()))
    assert d["loss"] == h.loss and d["epochs"] == h.epochs and not d["stopped_early"]


def test_first_epoch_loss_is_hinge_mean_plus_l1_penalty_by_hand() -> None:
    model = nn.MLP(2, [3, 1], activation="tanh", seed=5)
    with autograd.no_grad():
        scores = [model(x).data for x in X4]
    hinge = sum(max(0.0, 1.0 - t * s) for s, t in zip(scores, Y4)) / len(X4)
    penalty = 0.03 * sum(abs(w.data) for w in model.weights())
    correct = sum(1 for s, t in zip(scores, Y4) if (s > 0) == (t > 0))
    h = nn.fit(model, X4, Y4, epochs=1, l1=0.03, progress=False)
    assert h.data_loss[0] == pytest.approx(hinge, rel=1e-12)
    assert h.loss[0] == pytest.approx(hinge + penalty, rel=1e-12)
    assert h.accuracy[0] == correct / len(X4)


def test_weight_stats_per_epoch_are_sums_of_that_epochs_weights() -> None:
    model = nn.MLP(2, [3, 2, 1], seed=6)
    seen: list[dict[str, float]] = []
    h = nn.fit(
        model, X4, Y4, epochs=4, progress=False,
        callbacks=[lambda e, hist, m: seen.append(m.state_dict())],
    )  # fmt: skip
    for epoch, state in enumerate(seen):
        stats = h.weight_stats[epoch]
        assert stats == nn.weight_stats(_model_at(state))
        for li in range(3):
            ws = [v for k, v in state.items() if k.startswith(f"layers.{li}.") and ".w." in k]
            layer = stats["layers"][li]
            assert layer["sum"] == pytest.approx(math.fsum(ws), abs=1e-15)
            assert layer["l1"] == pytest.approx(math.fsum(abs(w) for w in ws), abs=1e-15)
            assert layer["l2"] == pytest.approx(math.fsum(w * w for w in ws), abs=1e-15)
    assert h.weight_stats[0] != h.weight_stats[-1]


def _model_at(state: dict[str, float]) -> Any:
    m = nn.MLP(2, [3, 2, 1], seed=0)
    m.load_state_dict(state)
    return m


@pytest.mark.parametrize(
    ("loss", "y", "nout"),
    [("bce", [1, 1, 0, 0], 1), ("cross_entropy", [0, 2, 1, 1], 3), ("mse", [0.5, 1, -1, 0], 1)],
)
def test_accuracy_is_sign_or_argmax_agreement_and_none_for_regression(
    loss: str, y: list[float], nout: int
) -> None:
    model = nn.MLP(2, [3, nout], activation="tanh", seed=8)
    with autograd.no_grad():
        outs = [[v.data for v in (o if isinstance(o, list) else [o])] for o in map(model, X4)]
    h = nn.fit(model, X4, y, loss=loss, epochs=1, progress=False)
    if loss == "mse":
        assert h.accuracy == [None]
        return
    if loss == "bce":
        hits = sum(1 for o, t in zip(outs, y) if (o[0] > 0) == (t == 1))
    else:
        hits = sum(1 for o, t in zip(outs, y) if o.index(max(o)) == t)
    assert h.accuracy[0] == hits / len(X4)


def test_bce_with_logits_is_another_name_for_bce() -> None:
    y = [1.0, 0.0, 1.0, 0.0]
    a, b = nn.MLP(2, [3, 1], seed=5), nn.MLP(2, [3, 1], seed=5)
    ha = nn.fit(a, X4, y, loss="bce", epochs=2, progress=False)
    hb = nn.fit(b, X4, y, loss="bce_with_logits", epochs=2, progress=False)
    # the mean of softplus-style terms, by hand, for the first epoch
    with autograd.no_grad():
        c = nn.MLP(2, [3, 1], seed=5)
        logits = [c(x).data for x in X4]
    by_hand = sum(max(z, 0) - z * t + math.log1p(math.exp(-abs(z))) for z, t in zip(logits, y))
    assert hb.loss == ha.loss and hb.accuracy == ha.accuracy
    assert math.isclose(hb.loss[0], by_hand / 4, rel_tol=1e-12)


def test_callable_loss_gets_preds_and_targets() -> None:
    model = nn.MLP(2, [2, 1], seed=9)
    got: list[tuple[int, int]] = []

    def my_loss(preds: list[Any], targets: list[Any]) -> autograd.Value:
        got.append((len(preds), len(targets)))
        return autograd.sum([(p - t) ** 2 for p, t in zip(preds, targets)]) / len(preds)

    h = nn.fit(model, X4, [1.0, 0.0, 1.0, 0.0], loss=my_loss, epochs=2, progress=False)
    assert got == [(4, 4), (4, 4)]
    assert h.accuracy == [None, None]


def test_callback_returning_true_stops_after_that_epoch() -> None:
    model = nn.MLP(2, [2, 1], seed=10)
    calls: list[int] = []

    def stop_at_two(epoch: int, hist: nn.History, m: Any) -> bool:
        calls.append(epoch)
        assert m is model and len(hist) == epoch + 1
        return epoch == 2

    h = nn.fit(model, X4, Y4, epochs=10, progress=False, callbacks=[stop_at_two, lambda *a: None])
    assert calls == [0, 1, 2]
    assert h.epochs == [0, 1, 2] and h.stopped_early


def test_huge_step_raises_naming_epoch_and_layer_and_keeps_finite_weights() -> None:
    model = nn.MLP(2, [3, 1], activation="tanh", seed=11)
    before = model.state_dict()
    with pytest.raises(nn.TrainingDivergedError) as info:
        nn.fit(model, X4, [3.0, -2.0, 5.0, 1.0], loss="mse", epochs=3, progress=False,
               optimizer=nn.SGD(model.parameters(), lr=1e308))  # fmt: skip
    err = info.value
    assert isinstance(err, FloatingPointError)
    assert err.epoch == 0 and "epoch 0" in str(err)
    assert err.layer.startswith("layers.") and err.layer in str(err)
    assert model.state_dict() == before


def test_growing_weights_diverge_later_and_model_keeps_last_finite_epoch() -> None:
    model = nn.MLP(2, [1], activation="linear", seed=12)
    states: list[dict[str, float]] = []
    with pytest.raises(nn.TrainingDivergedError) as info:
        nn.fit(
            model, X4, [1.0, 2.0, -1.0, 0.5], loss="mse", epochs=500, progress=False,
            optimizer=nn.SGD(model.parameters(), lr=20.0),
            callbacks=[lambda e, h, m: states.append(m.state_dict())],
        )  # fmt: skip
    err = info.value
    assert err.epoch == len(states) > 1, "diverges after some finite epochs"
    assert f"epoch {err.epoch}" in str(err)
    assert err.layer == "layers.0" and "layers.0" in str(err)
    assert model.state_dict() == states[-1]
    assert all(math.isfinite(v) for v in model.state_dict().values())


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("tqdm")
    model = nn.MLP(2, [2, 1], seed=13)
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    nn.fit(model, X4, Y4, epochs=3)
    assert pipe.getvalue() == ""
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    nn.fit(model, X4, Y4, epochs=3, progress=False)
    assert tty.getvalue() == ""
    nn.fit(model, X4, Y4, epochs=3)
    shown = tty.getvalue()
    assert "3/3" in shown and "loss" in shown


def test_progress_without_tqdm_trains_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    h = nn.fit(nn.MLP(2, [2, 1], seed=14), X4, Y4, epochs=2)
    assert len(h) == 2 and tty.getvalue() == ""


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"loss": "hingee"}, "hingee"),
        ({"epochs": -1}, "epochs"),
        ({"batch_size": 0}, "batch_size"),
        ({"l2": -0.1}, "l2"),
    ],
)
def test_bad_arguments_raise_naming_them(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        nn.fit(nn.MLP(2, [1], seed=0), X4, Y4, progress=False, **kwargs)


def test_x_and_y_of_different_lengths_raise() -> None:
    with pytest.raises(ValueError, match="4 samples but y has 3"):
        nn.fit(nn.MLP(2, [1], seed=0), X4, Y4[:3], progress=False)


@pytest.mark.parametrize(
    ("loss", "y", "nout", "l1", "l2"),
    [
        ("hinge", Y4, 1, 0.0, 1e-2),
        ("bce", [1, 1, 0, 0], 1, 1e-2, 0.0),
        ("mse", [0.5, 1, -1, 0], 1, 0.0, 0.0),
        ("cross_entropy", [0, 2, 1, 1], 3, 0.0, 1e-3),
    ],
)
def test_compiled_fit_equals_interpreted(
    loss: str, y: list[float], nout: int, l1: float, l2: float
) -> None:
    runs = []
    for compiled in (False, True):
        model = nn.MLP(2, [5, nout], activation="relu", seed=15)
        h = nn.fit(model, X4, y, loss=loss, epochs=3, batch_size=3, l1=l1, l2=l2,
                   progress=False, compiled=compiled)  # fmt: skip
        runs.append((h, model.state_dict()))
    (hi, si), (hc, sc) = runs
    assert hc.loss[0] == pytest.approx(hi.loss[0], abs=1e-9, rel=1e-9)
    assert hc.loss == pytest.approx(hi.loss, abs=1e-9, rel=1e-9)
    assert hc.data_loss == pytest.approx(hi.data_loss, abs=1e-9, rel=1e-9)
    assert hc.accuracy == hi.accuracy
    _assert_states_close(sc, si, 1e-9)
