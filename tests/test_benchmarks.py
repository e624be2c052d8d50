"""The benchmark suite runs at tiny sizes and every engine computes the same numbers.

No timing is asserted (the machine is shared); what is asserted is what makes a benchmark
table trustworthy: each engine's moons loss equals micrograd's to 1e-9 step after step (the
losses after step 0 depend on the gradients, so this checks backward and SGD too), and each
chain engine gives the closed-form y_n and dy_n/dx.
"""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import pytest

import autograd
from autograd import OPS, Value
from benchmarks import chain, data, moons
from tests.conftest import require_torch

ROOT = Path(__file__).resolve().parent.parent
TOL = 1e-9

TORCH_ENGINES = {"torch-scalar", "torch-batched"}


@pytest.fixture(scope="module")
def tiny_problem() -> data.MoonsProblem:
    return data.problem(n_samples=8)


@pytest.fixture(scope="module")
def micrograd_losses(tiny_problem: data.MoonsProblem) -> list[float]:
    step = moons.setup("micrograd", tiny_problem)
    return [step(k) for k in range(3)]


def _has_compile_bench() -> bool:
    return (ROOT / "benchmarks" / "compile_bench.py").exists()


ENGINES = [
    e for e in moons.ENGINES if not e.startswith("deltagrad-compiled") or _has_compile_bench()
]


@pytest.mark.parametrize("engine", [e for e in ENGINES if e != "micrograd"])
def test_moons_loss_of_every_engine_equals_micrograds(
    engine: str, tiny_problem: data.MoonsProblem, micrograd_losses: list[float]
) -> None:
    if engine in TORCH_ENGINES:
        require_torch()
    step = moons.setup(engine, tiny_problem)
    losses = [step(k) for k in range(3)]
    for k, (ours, ref) in enumerate(zip(losses, micrograd_losses)):
        assert abs(ours - ref) <= TOL, f"{engine} step {k}: loss {ours!r}, micrograd {ref!r}"


def test_moons_hinge_loss_at_step_zero_is_the_formula(tiny_problem: data.MoonsProblem) -> None:
    # Independent of every engine: the demo loss written out with plain floats.
    def forward(x: list[float]) -> float:
        a = x
        for li, (w, b) in enumerate(tiny_problem.weights):
            z = [sum(wi * ai for wi, ai in zip(row, a)) + bj for row, bj in zip(w, b)]
            a = [max(v, 0.0) for v in z] if li < len(tiny_problem.weights) - 1 else z
        return a[0]

    n = len(tiny_problem.xs)
    hinge = sum(max(0.0, 1.0 - y * forward(x)) for x, y in zip(tiny_problem.xs, tiny_problem.ys))
    params = [v for w, b in tiny_problem.weights for v in [*(x for row in w for x in row), *b]]
    l2 = sum(v * v for v in params)
    expected = hinge / n + data.ALPHA * l2
    got = moons.setup("deltagrad-exact", tiny_problem)(0)
    assert math.isclose(got, expected, rel_tol=1e-12), (got, expected)


def test_moons_data_is_two_balanced_classes_labelled_plus_minus_one() -> None:
    xs, ys = data.make_moons(100)
    assert len(xs) == 100 and all(len(x) == 2 for x in xs)
    assert sorted(set(ys)) == [-1.0, 1.0]
    assert ys.count(1.0) == 50


def test_chain_reference_is_the_closed_form() -> None:
    # y_n = s^n x0 + c (1 - s^n) / (1 - s), dy_n/dx0 = s^n while relu never clips.
    n = 1000
    s, c = chain.SCALE, chain.SHIFT
    y, d = chain.reference(n)
    assert math.isclose(y, s**n * chain.X0 + c * (1 - s**n) / (1 - s), rel_tol=1e-12)
    assert math.isclose(d, s**n, rel_tol=1e-12)


@pytest.mark.parametrize("engine", list(chain.ENGINES))
def test_chain_engine_matches_reference(engine: str) -> None:
    if engine in TORCH_ENGINES:
        require_torch()
    steps = 200  # micrograd's recursive backward survives this depth
    _, backward, _ = chain.ENGINES[engine](steps)
    y_ref, d_ref = chain.reference(steps)
    for _ in range(2):  # a repeated backward gives the same gradient (timed repeats rely on it)
        _, y, d = backward()
        assert math.isclose(y, y_ref, rel_tol=TOL), (engine, y, y_ref)
        assert math.isclose(d, d_ref, rel_tol=TOL), (engine, d, d_ref)


def test_deep_chain_backward_needs_no_recursion() -> None:
    steps = 20_000  # 60 000 op nodes: far beyond the recursion limit
    _, backward, _ = chain.build_deltagrad(steps)
    _, y, d = backward()
    y_ref, d_ref = chain.reference(steps)
    assert math.isclose(y, y_ref, rel_tol=TOL) and math.isclose(d, d_ref, rel_tol=TOL)


def _sample_points(op: autograd.Op) -> list[tuple[float, ...]]:
    grid = []
    for i in range(op.arity):
        lo, hi = op.input_domain(i)
        grid.append([lo + (hi - lo) * t for t in (0.0, 0.13, 0.5, 0.77, 1.0)] + [0.0, 1.0])
    if op.arity == 1:
        return [(x,) for x in grid[0]]
    return [(x, y) for x in grid[0] for y in grid[1]]


@pytest.mark.parametrize(
    "op", [o for o in OPS.values() if o.builtin and o.arity in (1, 2)], ids=lambda o: o.name
)
def test_backward_kernel_adds_seed_times_table_partials(op: autograd.Op) -> None:
    """The generated backward kernels give each row's chain rule ``Op.chain`` exactly, and
    that is seed * partial up to one rounding (``g / x`` where the partial is ``1 / x``).

    Every input combination the engine specialises: all Values, and each side a constant.
    """
    seed = -1.5
    for xs in _sample_points(op):
        try:
            out = op.forward(*xs)
            want = op.partials(*xs, out)
        except (ArithmeticError, ValueError):
            continue
        for const in [None, *range(op.arity)] if op.arity == 2 else [None]:
            vals = [Value(x) for x in xs]
            args = [xs[i] if i == const else vals[i] for i in range(op.arity)]
            node = autograd.apply_op(op, *args)
            node.backward(seed)
            for i, v in enumerate(vals):
                if i == const:
                    continue
                expected = op.chain(seed, xs, out)[i]
                same = v.grad == expected or (math.isnan(v.grad) and math.isnan(expected))
                assert same, f"{op.name}{xs} d/dx{i} (const {const}): {v.grad!r} != {expected!r}"
                assert math.isclose(expected, seed * want[i], rel_tol=4e-16, abs_tol=0.0) or (
                    math.isnan(expected) and math.isnan(seed * want[i])
                )


def test_benchmark_command_prints_the_memory_table() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--workload", "memory"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "### memory per op node" in out
    for engine in ("deltagrad", "micrograd", "python"):
        assert f"| {engine} |" in out, out
    assert "RecursionError" not in out.split("| deltagrad |")[1].splitlines()[0]


@pytest.mark.parametrize("n", [1, 2, 16, 70])
def test_dot_backward_gives_each_weight_its_input_and_each_input_its_weight(n: int) -> None:
    """The unrolled n-input kernel (and the generic one past 64 inputs) against the formula:
    d(w.x + b)/dw_i = x_i, d/dx_i = w_i, d/db = 1; a repeated input gets both terms."""
    ws = [Value(0.25 * i - 1.0) for i in range(n)]
    xs = [Value(0.5 - 0.125 * i) for i in range(n)]
    xs[-1] = ws[0]  # w_0 also used as an input: its gradient is x_0 + w_{n-1}
    b = Value(0.3)
    seed = 2.5
    autograd.dot(ws, xs, b).backward(seed)
    for i in range(n - 1):
        assert xs[i].grad == seed * ws[i].data, (i, xs[i].grad)
    for i in range(1, n):
        assert ws[i].grad == seed * xs[i].data, (i, ws[i].grad)
    assert ws[0].grad == seed * xs[0].data + seed * ws[n - 1].data
    assert b.grad == seed
