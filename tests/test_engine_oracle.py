"""Random expression programs against PyTorch float64.

Hypothesis writes programs that use every op of the table (through its Value methods and
operators, reflected forms with a number on the left, ``apply_op``), plus the public n-ary
``autograd.sum`` and ``autograd.dot``, with shared subexpressions (any earlier node can be an
operand again). The same program is built on float64 tensors with ``requires_grad``; the
root's value and the gradient of every node, leaves and intermediates, must agree to rtol
1e-9.

Operands are kept where the program is well conditioned (each op's value and partials at most
1e6 in size); an op whose drawn operands fall outside that gets fresh leaves drawn from its
declared domain instead, so that no op is ever dropped from a program.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

import autograd
from autograd import OPS, Op, Value
from tests.conftest import require_torch
from tests.torch_oracle import torch_oracle

BUILTIN = [op for op in OPS.values() if op.builtin]
BOUND = 1e6
REL = 1e-9

Tensor = Any
Operand = Value | float | int


def finite_floats(lo: float, hi: float) -> st.SearchStrategy[float]:
    return st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)


def well_conditioned(op: Op, operands: list[float]) -> bool:
    xs = [float(x) for x in operands]  # the engine hands forward Python floats
    try:
        out = op.forward(*xs)
        partials = op.partials(*xs, out)
    except (ArithmeticError, ValueError):
        return False
    return all(math.isfinite(v) and abs(v) <= BOUND for v in (out, *partials))


@dataclass
class Program:
    """Builds one random program twice: on our Values and on PyTorch tensors."""

    torch: ModuleType
    data: st.DataObject
    nodes: list[tuple[Value, Tensor]] = field(default_factory=list)
    outputs: list[tuple[Value, Tensor]] = field(default_factory=list)

    def draw(self, strategy: st.SearchStrategy[Any], label: str) -> Any:
        return self.data.draw(strategy, label=label)

    def leaf(self, lo: float, hi: float) -> tuple[Value, Tensor]:
        x = self.draw(finite_floats(lo, hi), "leaf")
        pair = (Value(x, label=f"x{len(self.nodes)}"), self.tensor(x, grad=True))
        self.nodes.append(pair)
        return pair

    def tensor(self, x: float, grad: bool = False) -> Tensor:
        return self.torch.tensor(float(x), dtype=self.torch.float64, requires_grad=grad)

    def number(self, lo: float, hi: float) -> float | int:
        """A plain number operand, as a float, an int or a numpy scalar."""
        c = self.draw(finite_floats(lo, hi), "number")
        kind = self.draw(st.sampled_from(["float", "int", "numpy"]), "number type")
        if kind == "int" and c.is_integer():
            return int(c)
        return np.float64(c) if kind == "numpy" else c  # type: ignore[return-value]

    def existing(self) -> tuple[Value, Tensor]:
        i = self.draw(st.integers(0, len(self.nodes) - 1), "shared operand")
        return self.nodes[i]

    def record(self, v: Value, t: Tensor) -> None:
        if t.requires_grad and not t.is_leaf:
            t.retain_grad()
        if self.draw(st.booleans(), "read .parents"):
            v.parents  # number operands become constant leaves: backward must not care
        self.nodes.append((v, t))
        self.outputs.append((v, t))

    # -- one op of the table, by one of the ways a user can call it ------------------------

    def apply(self, op: Op) -> None:
        n = op.arity if op.arity >= 0 else self.draw(st.integers(1, 5), "n inputs")
        forms = ["apply_op"]
        if n == op.arity:
            forms += [f"method:{m}" for m in op.methods]
            if n == 2 and op.methods:
                forms += [f"reflected:{m}" for m in op.rmethods]
                if op.defaults:
                    forms += ["default"]
        form = self.draw(st.sampled_from(forms), f"{op.name} form")
        # Which inputs are plain numbers: none for methods (bar the method's argument), the
        # first for a reflected call, any but one for apply_op.
        if form.startswith("reflected"):
            numeric = [True, False]
        elif form == "default":
            numeric = [False, True]
        elif form.startswith("method"):
            numeric = [False] + [self.draw(st.booleans(), "number arg") for _ in range(n - 1)]
        else:
            numeric = [self.draw(st.booleans(), "number arg") for _ in range(n)]
            numeric[self.draw(st.integers(0, n - 1), "a Value arg")] = False
            if n == 1:
                numeric = [False]

        args: list[Any] = []
        for i, is_number in enumerate(numeric):
            if form == "default" and i == 1:
                args.append(op.defaults[0])
            elif is_number:
                args.append(self.number(*op.input_domain(i)))
            else:
                args.append(self.existing())
        if not well_conditioned(op, [a[0].data if isinstance(a, tuple) else a for a in args]):
            for i in range(n):  # fresh operands from the op's domain, of the same kinds
                lo, hi = op.input_domain(i)
                if not (form == "default" and i == 1):
                    args[i] = self.number(lo, hi) if numeric[i] else self.leaf(lo, hi)
            xs = [a[0].data if isinstance(a, tuple) else a for a in args]
            assert well_conditioned(op, xs), f"{op.name}: domain {op.domain} gave {xs}"

        ours = [a[0] if isinstance(a, tuple) else a for a in args]
        theirs = [a[1] if isinstance(a, tuple) else self.tensor(a) for a in args]
        kind, _, name = form.partition(":")
        if kind == "apply_op":
            v = autograd.apply_op(op if self.draw(st.booleans(), "by row") else op.name, *ours)
        elif kind == "default":
            v = getattr(ours[0], name or op.methods[0])()
        elif kind == "reflected":
            forward_name = op.methods[0]  # number OP value makes Python call the rmethod
            v = getattr(operator, forward_name)(ours[0], ours[1])
        elif name.startswith("__"):
            v = getattr(operator, name)(*ours)
        else:
            v = getattr(ours[0], name)(*ours[1:])
        assert isinstance(v, Value) and v.op == op.name, (form, v)
        self.record(v, torch_oracle(op.name)(self.torch, *theirs))

    def every_op(self, max_extra: int, nary: list[str | None]) -> None:
        """1-3 leaves, then every op of the table in a drawn order plus up to ``max_extra``
        more, each maybe followed by one of ``nary`` (``"sum"``, ``"dot"`` or None)."""
        for _ in range(self.draw(st.integers(1, 3), "n leaves")):
            self.leaf(-2.0, 2.0)
        ops = self.draw(st.permutations(BUILTIN), "op order")  # every op, every program
        ops += self.draw(st.lists(st.sampled_from(BUILTIN), max_size=max_extra), "extra ops")
        for op in ops:
            self.apply(op)
            extra = self.draw(st.sampled_from(nary), "n-ary")
            if extra == "sum":
                self.public_sum()
            elif extra == "dot":
                self.public_dot()

    # -- the public n-ary functions ---------------------------------------------------------

    def public_sum(self) -> None:
        n = self.draw(st.integers(1, 5), "sum size")
        items = [self.existing() for _ in range(n)]
        v = autograd.sum(a[0] for a in items)
        self.record(v, torch_oracle("sum")(self.torch, *(a[1] for a in items)))

    def public_dot(self) -> None:
        n = self.draw(st.integers(1, 4), "dot size")
        ws = [self.existing() for _ in range(n)]
        xs = [self.existing() for _ in range(n)]
        bias = self.existing() if self.draw(st.booleans(), "has bias") else None
        v = autograd.dot([w[0] for w in ws], [x[0] for x in xs], bias and bias[0])
        inputs = [a[1] for a in (*ws, *xs)] + ([] if bias is None else [bias[1]])
        self.record(v, torch_oracle("dot")(self.torch, *inputs))


def close(ours: float, ref: float, scale: float) -> bool:
    # abs_tol: a gradient that sums contributions of size ~scale to about 0 carries their
    # rounding (~1e-16 * scale), whatever the order of accumulation.
    return math.isclose(ours, ref, rel_tol=REL, abs_tol=1e-12 * scale)


@given(st.data())
def test_random_programs_match_torch_values_and_every_gradient(data: st.DataObject) -> None:
    torch = require_torch()
    prog = Program(torch, data)
    prog.every_op(6, [None, None, None, "sum", "dot"])

    root, troot = prog.outputs[0]
    for v, t in prog.outputs[1:]:
        root, troot = root + v, troot + t
    troot.retain_grad()
    prog.nodes.append((root, troot))

    seed = data.draw(st.sampled_from([1.0, -0.5, 2.0]), label="seed")
    passes = data.draw(st.integers(1, 2), label="backward passes")
    for _ in range(passes):
        root.backward(seed) if seed != 1.0 else root.backward()
        troot.backward(torch.tensor(seed, dtype=torch.float64), retain_graph=True)

    assert close(root.data, troot.item(), abs(troot.item())), (root.data, troot.item())
    grads = [(v.grad, 0.0 if t.grad is None else t.grad.item()) for v, t in prog.nodes]
    scale = max(1.0, *(abs(ref) for _, ref in grads))
    for (v, _), (g, ref) in zip(prog.nodes, grads):
        assert close(g, ref, scale), (
            f"grad of {v.op or v.label} node (data {v.data!r}): ours {g!r}, torch {ref!r}"
        )
