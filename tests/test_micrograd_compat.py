"""Code written for micrograd's ``Value`` runs on ours.

micrograd 0.1.0's own engine tests (tests/compat/micrograd_test_engine.py, verbatim) and its
``micrograd.nn`` module are loaded with ``micrograd.engine`` resolving to a shim that exports
deltagrad's ``Value``; the nets' numbers are compared with the real micrograd's.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import math
import random
import sys
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import autograd
from autograd import Value
from tests.conftest import require_torch

FIXTURE = Path(__file__).parent / "compat" / "micrograd_test_engine.py"
# sha256 of micrograd's test/test_engine.py at 5d0f7c2 (the text below our header comment).
FIXTURE_SHA256 = "27142177f5badd0f3aa0ae1a78ae91b0017cd08d9e44a3e0f774142c0f53d531"


@pytest.fixture
def on_our_value(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path, str], Any]]:
    """Load a file with ``micrograd.engine.Value`` being deltagrad's Value."""
    engine = types.ModuleType("micrograd.engine")
    engine.Value = Value  # type: ignore[attr-defined]
    package = types.ModuleType("micrograd")
    package.__path__ = []
    package.engine = engine  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "micrograd", package)
    monkeypatch.setitem(sys.modules, "micrograd.engine", engine)

    def load(path: Path, name: str) -> Any:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    yield load


def fixture_body() -> str:
    lines = FIXTURE.read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if not line.startswith("#"))
    return "".join(lines[start:])


def test_fixture_is_micrograds_test_file_unchanged() -> None:
    body = fixture_body()
    assert hashlib.sha256(body.encode()).hexdigest() == FIXTURE_SHA256
    assert "from micrograd.engine import Value" in body


@pytest.mark.parametrize("name", ["test_sanity_check", "test_more_ops"])
def test_micrograds_own_engine_tests_pass_on_our_value(
    name: str, on_our_value: Callable[[Path, str], Any]
) -> None:
    require_torch()
    module = on_our_value(FIXTURE, "micrograd_test_engine_on_deltagrad")
    assert module.Value is Value
    tests = sorted(n for n in vars(module) if n.startswith("test_"))
    assert tests == ["test_more_ops", "test_sanity_check"], tests
    getattr(module, name)()


# ---------------------------------------------------------------------------------------------
# micrograd.nn on our Value


def micrograd_nn_path() -> Path:
    try:
        dist = importlib.metadata.distribution("micrograd")
    except importlib.metadata.PackageNotFoundError:
        pytest.fail("micrograd==0.1.0 is a dev dependency (pip install -e '.[dev]')")
    assert dist.version == "0.1.0", dist.version
    return Path(str(dist.locate_file("micrograd/nn.py")))


def train(nn: Any, steps: int) -> tuple[list[float], list[float], list[float]]:
    """micrograd README style: an MLP, squared error, SGD; returns losses, params, grads."""
    random.seed(1234)
    model = nn.MLP(3, [4, 4, 1])
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    losses = []
    for _ in range(steps):
        preds = [model(x) for x in xs]
        loss = sum((p - y) ** 2 for p, y in zip(preds, ys))
        model.zero_grad()
        loss.backward()
        losses.append(loss.data)
        for p in model.parameters():
            p.data += -0.05 * p.grad
    params = model.parameters()
    return losses, [p.data for p in params], [p.grad for p in params]


def test_micrograd_nn_mlp_on_our_value_matches_real_micrograd(
    on_our_value: Callable[[Path, str], Any],
) -> None:
    path = micrograd_nn_path()
    ours_nn = on_our_value(path, "micrograd_nn_on_deltagrad")
    assert ours_nn.Value is Value
    ours = train(ours_nn, steps=8)
    assert isinstance(ours_nn.MLP(2, [1]).parameters()[0], Value)

    sys.modules.pop("micrograd", None)  # the real package (monkeypatch restores the shim's)
    sys.modules.pop("micrograd.engine", None)
    import micrograd.nn as real_nn

    assert real_nn.Value is not Value
    theirs = train(real_nn, steps=8)
    for what, a, b in zip(("loss", "param", "grad"), ours, theirs):
        assert len(a) == len(b)
        for i, (x, y) in enumerate(zip(a, b)):
            assert math.isclose(x, y, rel_tol=1e-12, abs_tol=1e-14), f"{what} {i}: {x} vs {y}"
    assert ours[0][-1] < ours[0][0], "training should lower the loss"


def test_micrograd_style_graph_helpers_read_prev_and_op() -> None:
    """micrograd's draw_dot walks ``_prev`` (a set) and shows ``_op``; both work on ours."""

    def trace(root: Any) -> tuple[set[Any], set[tuple[Any, Any]]]:
        nodes: set[Any] = set()
        edges: set[tuple[Any, Any]] = set()
        stack = [root]
        while stack:
            v = stack.pop()
            if v not in nodes:
                nodes.add(v)
                for child in v._prev:
                    edges.add((child, v))
                    stack.append(child)
        return nodes, edges

    x, w = Value(2.0), Value(-3.0)
    y = (x * w + 1).relu()
    nodes, edges = trace(y)
    assert nodes == set(autograd.topological_order(y))
    assert (x, y.parents[0].parents[0]) in edges
    assert x._op == "" and isinstance(y._op, str) and y._op


def test_second_backward_differs_from_micrograd_by_design() -> None:
    """micrograd re-adds stale intermediate grads on a second backward (x*2*3: 18, not 12);
    ours adds exactly one pass, as PyTorch does."""
    from micrograd.engine import Value as MicrogradValue

    for cls, expected in ((Value, 12.0), (MicrogradValue, 18.0)):
        x = cls(1.0)
        y = x * 2 * 3
        y.backward()
        y.backward()
        assert x.grad == expected, cls
