"""Compile a recorded scalar graph into numpy code that runs it on a whole batch at once.

A graph built for ONE sample has the same structure for every sample. ``compile(root, inputs)``
reads that structure once and writes Python source with two parts:

1. **Per node** (the teaching artefact): ``per_node(X, P, seed)``, one line per node for the
   forward pass (named by the nodes' labels), then one line per local chain-rule step
   ``d_parent = d_parent + d_node * (local partial)``. Each line works on whole columns.
2. **Batched by level** (what :meth:`Program.forward` and :meth:`Program.backward` run):
   nodes are scheduled by level (longest path from an input); all nodes of one op at one
   level become ONE numpy expression over a ``(nodes, samples)`` array, with index arrays
   computed here once (gather, compute, scatter; ``np.add.reduceat`` to add up the gradient
   contributions a node receives from all its consumers).

Kinds of nodes. An ``input`` leaf is a per-sample column; every other leaf is a parameter
whose ``.data`` is read at every call (plain numbers used as operands are such leaves too, so
they are read live as well). A node is *static* when it depends on parameters only (an L2
penalty): static nodes are computed once per call as ``(k, 1)`` arrays, and the gradient they
send to parameters is summed over samples once, so with ``reduction="mean"`` a penalty added to
every sample's root enters the gradient exactly once, as in ``mean(loss) + penalty``.

Everything is read from the op table: each op's ``code`` / ``grad_code`` templates, evaluated
with :data:`NUMPY_NAMESPACE`; an op without templates runs its float ``forward`` / ``partials``
element by element. Two fast paths are chosen by what an op's templates *say*, never by its
name: an op whose variadic template renders ``a0 + a1 + ...`` with unit partials is an n-ary
sum (one gather and one ``.sum``), and an op whose template renders ``w0 * x0 + w1 * x1 [+ b]``
with partials ``x, w [, 1]`` is a fused neuron; neurons of one level that share their inputs
and whose weights are static become one matrix product ``W @ X``.

Safety: no user text reaches ``exec`` as code. Labels become identifiers only after reduction
to ``[A-Za-z0-9_]`` (plus a suffix that keeps names unique) and otherwise appear only in
comments reduced to printable ASCII, which no character can end early. The generated source
holds no string literals and no numbers from the graph besides indices: parameter values are
read at run time, ``nan``/``inf`` never appear as literals.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections.abc import Callable, Iterable, Sequence
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from .engine import Value, topological_order
from .ops import CODE_NAMESPACE, Op, scaled, template_names

__all__ = ["NUMPY_NAMESPACE", "CompileError", "Program", "compile"]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class CompileError(ValueError):
    """The graph (or an op's code template) cannot be compiled; the message names the node."""


def _np_sigmoid(x: Any) -> Any:
    """Stable logistic: the two branches of the float version, so exp never overflows."""
    x = np.asarray(x, dtype=np.float64)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


#: The names code templates may use, bound to numpy functions (elementwise on arrays).
NUMPY_NAMESPACE: dict[str, Any] = {
    "exp": np.exp,
    "log": np.log,
    "tanh": np.tanh,
    "sqrt": np.sqrt,
    "sin": np.sin,
    "cos": np.cos,
    "fabs": np.fabs,
    "where": np.where,
    "sign": np.sign,
    "sigmoid": _np_sigmoid,
}
# A template name added to the float namespace later still compiles (element by element).
for _name, _fn in CODE_NAMESPACE.items():
    if callable(_fn):
        NUMPY_NAMESPACE.setdefault(_name, np.vectorize(_fn, otypes=[np.float64]))

# Names of the generated code itself; node identifiers never take them.
_RESERVED = frozenset(
    {"X", "P", "N", "seed", "dP", "total"}
    | set(NUMPY_NAMESPACE)
    | set(dir(builtins))
    | set(keyword.kwlist)
    | set(keyword.softkwlist)
)

_STATIC, _SAMPLE = 0, 1  # node kinds: depends on parameters only / on at least one input


# ---------------------------------------------------------------------------------------------
# Text that comes from users: identifiers and comments


def _comment(text: str, limit: int = 60) -> str:
    """``text`` reduced to printable ASCII (nothing in it can end a comment), shortened."""
    s = "".join(c if " " <= c <= "~" else "?" for c in text)
    return s if len(s) <= limit else s[: limit - 3] + "..."


def _ident(text: str) -> str:
    """``text`` reduced to ``[A-Za-z0-9_]``: runs of other characters become one ``_``."""
    s = re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:40].strip("_")
    if s and s[0].isdigit():
        s = "v" + s
    return s


# A node named v also owns d_v (its gradient) and q_v (its partials) in the per-node code.
_PREFIXES = ("", "d_", "q_")


class _Names:
    """Unique identifiers for nodes, with room for the derived names ``d_<name>``, ``q_<name>``."""

    def __init__(self) -> None:
        self.used: set[str] = set()

    def take(self, base: str) -> str:
        cand = base
        k = 1
        while cand in _RESERVED or any(p + cand in self.used for p in _PREFIXES):
            k += 1
            cand = f"{base}_{k}"
        self.used.update(p + cand for p in _PREFIXES)
        return cand


# ---------------------------------------------------------------------------------------------
# Templates


def _check_expr(text: object, allowed: Iterable[str], what: str) -> str:
    """``text`` if it is one Python expression using only ``allowed`` names and template
    functions, else :class:`CompileError` saying which."""
    if not isinstance(text, str):
        raise CompileError(f"{what}: a template must give a str, got {type(text).__name__}")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as e:
        raise CompileError(f"{what}: {text!r} is not one Python expression ({e.msg})") from None
    ok = set(allowed) | set(NUMPY_NAMESPACE)
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id not in ok:
            known = ", ".join(sorted(NUMPY_NAMESPACE))
            raise CompileError(f"{what}: {text!r} uses the unknown name {node.id!r} ({known})")
    return text


class _Templates:
    """An op's forward and partial templates rendered over given names (``None``: no template,
    the op runs element by element)."""

    def __init__(self, op: Op, nargs: int, where: str) -> None:
        self.op = op
        self.nargs = nargs
        self.where = where

    def forward(self, names: Sequence[str], out: str) -> str | None:
        code = self.op.code
        if code is None:
            return None
        what = f"{self.where}: op {self.op.name!r} code template"
        try:
            text = code(list(names), out) if callable(code) else code.format(*names, out=out)
        except (IndexError, KeyError, ValueError, TypeError) as e:
            raise CompileError(f"{what} cannot take {len(names)} input(s): {e}") from None
        return _check_expr(text, [*names, out], what)

    def partials(self, names: Sequence[str], out: str) -> list[str] | None:
        gc = self.op.grad_code
        if gc is None:
            return None
        what = f"{self.where}: op {self.op.name!r} grad_code"
        try:
            if callable(gc):
                texts = list(gc(list(names), out))
            else:
                texts = [t.format(*names, out=out) for t in gc]
        except (IndexError, KeyError, ValueError, TypeError) as e:
            raise CompileError(f"{what} cannot take {len(names)} input(s): {e}") from None
        if len(texts) != len(names):
            raise CompileError(f"{what} gives {len(texts)} partial(s) for {len(names)} input(s)")
        return [_check_expr(t, [*names, out], what) for t in texts]


def _probe(fn: Callable[[], bool]) -> bool:
    try:
        return bool(fn())
    except Exception:  # a template that cannot even be probed is simply not a fast path
        return False


def _is_sum(op: Op) -> bool:
    """Does the table row say: n-ary sum with unit partials?"""
    code, gc = op.code, op.grad_code
    if op.arity != -1 or not callable(code) or not callable(gc):
        return False

    def check() -> bool:
        for names in (["a0"], ["a0", "a1", "a2"]):
            if code(names, "o") != " + ".join(names):
                return False
            if tuple(gc(names, "o")) != ("1.0",) * len(names):
                return False
        return op.forward(1.0, 2.0, 4.0) == 7.0

    return _probe(check)


def _is_dot(op: Op) -> bool:
    """Does the table row say: fused neuron sum_i w_i x_i [+ b], parents (w.., x.., [b])?"""
    code, gc = op.code, op.grad_code
    if op.arity != -1 or not callable(code) or not callable(gc):
        return False

    def check() -> bool:
        ws, xs = ["w0", "w1"], ["x0", "x1"]
        if code([*ws, *xs], "o") != "w0 * x0 + w1 * x1":
            return False
        if code([*ws, *xs, "b"], "o") != "w0 * x0 + w1 * x1 + b":
            return False
        if tuple(gc([*ws, *xs], "o")) != ("x0", "x1", "w0", "w1"):
            return False
        if tuple(gc([*ws, *xs, "b"], "o")) != ("x0", "x1", "w0", "w1", "1.0"):
            return False
        return (
            op.forward(2.0, 3.0, 5.0, 7.0) == 31.0 and op.forward(2.0, 3.0, 5.0, 7.0, 1.0) == 32.0
        )

    return _probe(check)


# ---------------------------------------------------------------------------------------------
# Element-by-element fallback for ops without templates (called from generated code)


class _Fallback:
    """Runs an op's float ``forward``/``partials`` over arrays; errors name the node."""

    def __init__(self) -> None:
        self.table: list[tuple[Op, list[str]]] = []

    def add(self, op: Op, descs: list[str]) -> int:
        self.table.append((op, descs))
        return len(self.table) - 1

    @staticmethod
    def _cols(
        shape: tuple[int, ...], args: Sequence[Any]
    ) -> tuple[int, Iterable[tuple[float, ...]]]:
        size = int(np.prod(shape, dtype=np.int64))
        if not args:
            return size, [()] * size
        flat = [
            np.broadcast_to(np.asarray(a, dtype=np.float64), shape).ravel().tolist() for a in args
        ]
        return size, zip(*flat)

    def _fail(
        self, ix: int, shape: tuple[int, ...], i: int, args: tuple[float, ...], e: Exception
    ) -> Exception:
        op, descs = self.table[ix]
        row = int(np.unravel_index(i, shape)[0]) if len(shape) == 2 else 0
        shown = ", ".join(repr(a) for a in args)
        return type(e)(f"{descs[row]}: {op.name}({shown}): {e}")

    def forward(self, ix: int, shape: tuple[int, ...], *args: Any) -> FloatArray:
        op = self.table[ix][0]
        size, cols = self._cols(shape, args)
        out = np.empty(size, dtype=np.float64)
        fwd = op.forward
        for i, xs in enumerate(cols):
            try:
                out[i] = float(fwd(*xs))
            except (ArithmeticError, ValueError, TypeError) as e:
                raise self._fail(ix, shape, i, xs, e) from None
        return out.reshape(shape)

    def partials(self, ix: int, shape: tuple[int, ...], *args: Any) -> list[FloatArray]:
        op = self.table[ix][0]
        m = len(args) - 1
        size, cols = self._cols(shape, args)
        out = np.empty((m, size), dtype=np.float64)
        part = op.partials
        for i, xs in enumerate(cols):
            try:
                ds = tuple(part(*xs))
                if len(ds) != m:
                    raise ValueError(f"partials gave {len(ds)} value(s) for {m} input(s)")
                out[:, i] = ds
            except (ArithmeticError, ValueError, TypeError) as e:
                raise self._fail(ix, shape, i, xs, e) from None
        return [r.reshape(shape) for r in out]


# ---------------------------------------------------------------------------------------------
# The graph as the compiler sees it


class _Graph:
    """Nodes in topological order with kind, level, gradient need and identifiers."""

    def __init__(self, root: Value, inputs: Sequence[Value]) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"compile: root must be a Value, got {type(root).__name__}: {root!r}")
        if isinstance(inputs, Value) or not isinstance(inputs, Iterable):
            raise TypeError(
                f"compile: inputs must be a list of leaf Values, got {type(inputs).__name__}"
            )
        inputs = list(inputs)
        pos: dict[int, int] = {}
        for j, v in enumerate(inputs):
            if not isinstance(v, Value):
                raise TypeError(
                    f"compile: inputs[{j}] must be a Value, got {type(v).__name__}: {v!r}"
                )
            if not v.is_leaf:
                raise CompileError(
                    f"compile: inputs[{j}] is {_describe(v)}, not a leaf: only leaf Values can "
                    "be per-sample columns (compile the graph from the leaves it starts at)"
                )
            if id(v) in pos:
                raise CompileError(
                    f"compile: inputs[{j}] ({_describe(v)}) is the same Value as "
                    f"inputs[{pos[id(v)]}]; each input must be a different leaf"
                )
            pos[id(v)] = j
        self.inputs = inputs
        order = topological_order(root)
        self.values = order
        index = {id(v): i for i, v in enumerate(order)}
        n = len(order)
        self.ops: list[Op | None] = [v.op_info for v in order]
        self.parents: list[tuple[int, ...]] = [
            tuple(index[id(p)] for p in v.parents) for v in order
        ]
        self.kind = [0] * n
        self.level = [0] * n
        self.needs = [False] * n
        self.input_of = [-1] * n
        self.param_of = [-1] * n
        self.params: list[Value] = []
        for i, v in enumerate(order):
            ps = self.parents[i]
            if self.ops[i] is None:
                j = pos.get(id(v), -1)
                if j >= 0:
                    self.input_of[i] = j
                    self.kind[i] = _SAMPLE
                else:
                    self.param_of[i] = len(self.params)
                    self.params.append(v)
                    self.needs[i] = True
                continue
            kind = _SAMPLE if any(self.kind[p] == _SAMPLE for p in ps) else _STATIC
            self.kind[i] = kind
            self.level[i] = 1 + max((self.level[p] for p in ps if self.kind[p] == kind), default=0)
            self.needs[i] = any(self.needs[p] for p in ps)
        self.root = n - 1
        self.descs = [_describe(v, i) for i, v in enumerate(order)]
        names = _Names()
        self.names: list[str] = []
        for i, v in enumerate(order):
            base = _ident(v.label)
            if not base:
                op = self.ops[i]
                if op is not None:
                    base = (_ident(op.name) or "op") + f"_{i}"
                elif self.input_of[i] >= 0:
                    base = f"in{self.input_of[i]}"
                else:
                    base = f"p{self.param_of[i]}"
            self.names.append(names.take(base))


def _describe(v: Value, i: int | None = None) -> str:
    num = f" #{i}" if i is not None else ""
    lab = f" {v.label!r}" if v.label else ""
    if v.is_leaf:
        return f"leaf{num}{lab} (data={v.data!r})"
    return f"node{num}{lab} (op {v.op!r})"


# ---------------------------------------------------------------------------------------------
# Code generation


class _Gen:
    """Writes both sections of the source; collects index tables and fallback entries."""

    def __init__(self, g: _Graph) -> None:
        self.g = g
        self.tables: dict[tuple[tuple[int, ...], bytes], str] = {}
        self.table_defs: list[tuple[str, IntArray]] = []
        self.fallback = _Fallback()
        self.templates: dict[tuple[int, int], _Templates] = {}
        self.sum_like: dict[int, bool] = {}
        self.dot_like: dict[int, bool] = {}

    # -- shared helpers ----------------------------------------------------------------------

    def tmpl(self, i: int) -> _Templates:
        op = self.op(i)
        key = (id(op), len(self.g.parents[i]))
        t = self.templates.get(key)
        if t is None:
            t = self.templates[key] = _Templates(op, key[1], self.g.descs[i])
        return t

    def op(self, i: int) -> Op:
        op = self.g.ops[i]
        if op is None:  # only op nodes are ever grouped; a leaf here is a compiler bug
            raise CompileError(f"internal: {self.g.descs[i]} is a leaf, not an op node")
        return op

    def is_sum(self, op: Op) -> bool:
        r = self.sum_like.get(id(op))
        if r is None:
            r = self.sum_like[id(op)] = _is_sum(op)
        return r

    def is_dot(self, op: Op) -> bool:
        r = self.dot_like.get(id(op))
        if r is None:
            r = self.dot_like[id(op)] = _is_dot(op)
        return r

    def table(self, arr: Any) -> str:
        a = np.ascontiguousarray(arr, dtype=np.intp)
        key = (a.shape, a.tobytes())
        name = self.tables.get(key)
        if name is None:
            name = self.tables[key] = f"_i{len(self.table_defs)}"
            self.table_defs.append((name, a))
        return name

    # -- section 1: one line per node --------------------------------------------------------

    def per_node(self) -> list[str]:
        g = self.g
        nm = g.names
        out = [
            "def per_node(X, P, seed):",
            "    # Forward pass, one line per node. Columns have shape (N,); parameters are",
            "    # numbers read at every call; total(v) adds up over the samples.",
            "    N = X.shape[1]",
        ]
        for i in range(len(g.values)):
            if g.input_of[i] >= 0:
                out.append(f"    {nm[i]} = X[{g.input_of[i]}]{self._note(i, 'input')}")
            elif g.param_of[i] >= 0:
                what = "parameter" if g.values[i].label else "parameter (a number used as operand?)"
                out.append(f"    {nm[i]} = P[{g.param_of[i]}, 0]{self._note(i, what)}")
        partial_of: dict[int, list[str] | str] = {}
        for i in range(len(g.values)):
            op = g.ops[i]
            if op is None:
                continue
            names = [nm[p] for p in g.parents[i]]
            t = self.tmpl(i)
            expr = t.forward(names, nm[i])
            shape = "(N,)" if g.kind[i] == _SAMPLE else "()"
            if expr is None:
                fx = self.fallback.add(op, [g.descs[i]])
                expr = f"_fwd({fx}, {shape}{''.join(', ' + a for a in names)})"
            elif template_names(expr).isdisjoint(
                nm[p] for p in g.parents[i] if g.kind[p] == g.kind[i]
            ):
                expr = f"_np.broadcast_to({expr}, {shape})"
            out.append(f"    {nm[i]} = {expr}{self._note(i, op.name)}")
            if g.needs[i]:
                ps = t.partials(names, nm[i])
                if ps is None:
                    bx = self.fallback.add(op, [g.descs[i]])
                    args = "".join(", " + a for a in [*names, nm[i]])
                    partial_of[i] = f"_bwd({bx}, {shape}{args})"
                else:
                    partial_of[i] = ps
        out.append("    # Backward pass, one line per local chain-rule step:")
        out.append("    # d_parent = d_parent + d_node * (d node / d parent).")
        r = g.root
        if g.needs[r]:
            seeded = "seed" if g.kind[r] == _SAMPLE else "total(seed)"
            out.append(f"    d_{nm[r]} = {seeded}")
        started = {r}
        for i in range(len(g.values) - 1, -1, -1):
            got = partial_of.get(i)
            if got is None:
                continue
            if isinstance(got, str):  # element-by-element partials: one call gives them all
                out.append(f"    q_{nm[i]} = {got}")
                ps = [f"q_{nm[i]}[{j}]" for j in range(len(g.parents[i]))]
            else:
                ps = got
            for j, p in enumerate(g.parents[i]):
                if not g.needs[p]:
                    continue
                term = scaled(f"d_{nm[i]}", ps[j])
                if g.kind[p] == _STATIC and g.kind[i] == _SAMPLE:
                    term = f"total({term})"
                if p in started:
                    out.append(f"    d_{nm[p]} = d_{nm[p]} + {term}")
                else:
                    started.add(p)
                    out.append(f"    d_{nm[p]} = {term}")
        out.append(f"    dP = _np.zeros(({len(g.params)}, 1))")
        for i in range(len(g.values)):
            if g.param_of[i] >= 0:
                out.append(f"    dP[{g.param_of[i]}, 0] = d_{nm[i]}")
        out.append(f"    return {nm[r]}, dP")
        return out

    def _note(self, i: int, what: str) -> str:
        lab = self.g.values[i].label
        return f"  # {_comment(what)} {_comment(lab)}".rstrip() if lab else f"  # {_comment(what)}"

    # -- section 2: batched by level ---------------------------------------------------------

    def batched(self) -> list[str]:
        g = self.g
        n = len(g.values)
        groups: dict[tuple[Any, ...], list[int]] = {}
        for i in range(n):
            op = g.ops[i]
            if op is None:
                continue
            ps = g.parents[i]
            kinds = tuple(g.kind[p] for p in ps)
            key: tuple[Any, ...] = (g.kind[i], g.level[i], id(op), len(ps), kinds, g.needs[i])
            mm = self._matmul_side(i)
            if mm is not None:
                key += (mm[0], tuple(mm[1]))
            groups.setdefault(key, []).append(i)
        order = sorted(groups.values(), key=lambda ns: (g.kind[ns[0]], g.level[ns[0]], ns[0]))
        self._layout(order)
        self.holder = [""] * n
        self.row = [0] * n
        self.size: dict[str, int] = {"X": len(g.inputs), "P": len(g.params)}
        self.hkind: dict[str, int] = {"X": _SAMPLE, "P": _STATIC}
        for i in range(n):
            if g.input_of[i] >= 0:
                self.holder[i], self.row[i] = "X", g.input_of[i]
            elif g.param_of[i] >= 0:
                self.holder[i], self.row[i] = "P", g.param_of[i]
        for k, nodes in enumerate(order):
            h = f"t{k}"
            self.size[h] = len(nodes)
            self.hkind[h] = g.kind[nodes[0]]
            for r, i in enumerate(nodes):
                self.holder[i], self.row[i] = h, r
        fwd: list[str] = []
        bwd_plans: list[Callable[[list[str]], None]] = []
        self.contribs: dict[str, list[tuple[str, IntArray]]] = {}
        for k, nodes in enumerate(order):
            plan = self._group(k, nodes, fwd)
            bwd_plans.append(plan)
        r = g.root
        rh, rr = self.holder[r], self.row[r]
        ret = f"{rh}[{rr}:{rr + 1}]"
        head = [
            "    N = X.shape[1]",
        ]
        lines = ["def forward(X, P):", *head, *fwd, f"    return {ret}", ""]
        lines += ["def backward(X, P, seed):", *head, *fwd]
        lines.append("    # Backward, level by level from the root: each group's gradient is the")
        lines.append("    # sum of what its consumers send it (segment sums over index tables).")
        back: list[str] = []
        if g.needs[r]:
            seeded = "seed" if g.kind[r] == _SAMPLE else "seed.sum(1, keepdims=True)"
            self.contribs.setdefault(rh, []).append((seeded, np.array([rr], dtype=np.intp)))
        for k in range(len(order) - 1, -1, -1):
            if g.needs[order[k][0]]:
                bwd_plans[k](back)
        if g.params:
            back.append(self._accumulate("P", "dP"))
        else:
            back.append("    dP = _np.zeros((0, 1))")
        lines += back
        lines.append(f"    return {ret}, dP")
        return lines

    def _layout(self, order: list[list[int]]) -> None:
        """Order the parameter vector so that each group of fused neurons finds its weight
        matrix, then its biases, as contiguous rows: gathers become slices (views)."""
        g = self.g
        placed: list[int] = []
        seen: set[int] = set()

        def put(ids: Iterable[int]) -> None:
            for i in ids:
                if g.param_of[i] >= 0 and i not in seen:
                    seen.add(i)
                    placed.append(i)

        for nodes in order:
            mm = self._matmul_side(nodes[0])
            if mm is None:
                continue
            par = np.array([g.parents[i] for i in nodes], dtype=np.intp)
            m = par.shape[1] // 2
            put((par[:, :m] if mm[0] == "x" else par[:, m : 2 * m]).ravel().tolist())
            if par.shape[1] & 1:
                put(par[:, 2 * m].tolist())
        put(range(len(g.values)))
        g.params = [g.values[i] for i in placed]
        for r, i in enumerate(placed):
            g.param_of[i] = r

    def _matmul_side(self, i: int) -> tuple[str, list[int]] | None:
        """For a fused-neuron node: which side is shared ('x': weights vary and are static)."""
        g = self.g
        op = g.ops[i]
        ps = g.parents[i]
        m = len(ps) // 2
        if op is None or m == 0 or not self.is_dot(op):
            return None
        ws, xs = ps[:m], ps[m : 2 * m]
        for side, vary, shared in (("x", ws, xs), ("w", xs, ws)):
            # V must be static; S of one kind, so that S and its gradient have one width.
            if all(g.kind[p] == _STATIC for p in vary) and len({g.kind[p] for p in shared}) == 1:
                return (side, list(shared))
        return None

    def _width(self, h_or_kind: str | int) -> str:
        kind = self.hkind[h_or_kind] if isinstance(h_or_kind, str) else h_or_kind
        return "N" if kind == _SAMPLE else "1"

    def _rows(self, h: str, rows: IntArray) -> str:
        """Rows ``rows`` (1-D) of holder ``h``: the whole array, a slice, or a gather."""
        if len(rows) == self.size[h] and np.array_equal(rows, np.arange(len(rows))):
            return h
        if len(rows) and np.array_equal(rows, np.arange(rows[0], rows[0] + len(rows))):
            return f"{h}[{rows[0]}:{rows[0] + len(rows)}]"
        return f"{h}[{self.table(rows)}]"

    def gather(self, nodes: Any, squeeze: bool = False) -> str:
        """Expression for the values of ``nodes`` (an int array of node indices, any shape):
        shape ``nodes.shape + (width,)``, or ``nodes.shape`` when ``squeeze`` (static)."""
        ids = np.asarray(nodes, dtype=np.intp)
        flat = ids.ravel()
        hs = [self.holder[i] for i in flat]
        rows = np.array([self.row[i] for i in flat], dtype=np.intp)
        uniq = list(dict.fromkeys(hs))
        tail = ", 0]" if squeeze else "]"
        if len(uniq) == 1:
            h = uniq[0]
            if ids.ndim == 1 and not squeeze:
                return self._rows(h, rows)
            a = int(rows[0]) if len(rows) else 0
            if len(rows) and np.array_equal(rows, np.arange(a, a + len(rows))):
                shape = ", ".join(str(d) for d in ids.shape)  # contiguous rows: a view
                return f"{h}[{a}:{a + len(rows)}].reshape({shape}{'' if squeeze else ', -1'})"
            return f"{h}[{self.table(rows.reshape(ids.shape))}{tail}"
        pieces = []
        posn = np.empty(len(flat), dtype=np.intp)
        off = 0
        harr = np.array(hs)
        for h in uniq:
            mask = harr == h
            u = np.unique(rows[mask])
            pieces.append(self._rows(h, u))
            posn[mask] = off + np.searchsorted(u, rows[mask])
            off += len(u)
        expr = f"_cat(({', '.join(pieces)},))"
        if ids.ndim == 1 and not squeeze and np.array_equal(posn, np.arange(len(posn))):
            return expr
        return f"{expr}[{self.table(posn.reshape(ids.shape))}{tail}"

    def _bind(self, out: list[str], name: str, expr: str) -> str:
        if expr.isidentifier():
            return expr
        out.append(f"    {name} = {expr}")
        return name

    def _send(self, out: list[str], var: str, targets: Sequence[int] | IntArray) -> None:
        """Route contribution rows ``var[r]`` (for node ``targets[r]``) to the holders."""
        g = self.g
        t = np.asarray(targets, dtype=np.intp)
        keep = np.array([g.needs[i] for i in t], dtype=bool)
        if not keep.any():
            return
        hs = np.array([self.holder[i] for i in t])
        rows = np.array([self.row[i] for i in t], dtype=np.intp)
        for h in dict.fromkeys(hs[keep].tolist()):
            sel = keep & (hs == h)
            expr = var if sel.all() else f"{var}[{self.table(np.flatnonzero(sel))}]"
            self.contribs.setdefault(h, []).append((expr, rows[sel]))

    def _accumulate(self, h: str, dname: str) -> str:
        """Line that adds up all contributions to holder ``h`` into ``dname``."""
        cs = self.contribs.get(h, [])
        size = self.size[h]
        full = np.arange(size)
        if not cs:
            raise CompileError(f"internal: no gradient reaches {h}")  # every node has a consumer
        merged: dict[bytes, tuple[list[str], IntArray]] = {}
        for e, r in cs:  # contributions to the same rows add up first (x * x, shared inputs)
            merged.setdefault(r.tobytes(), ([], r))[0].append(e)
        cs = [(es[0] if len(es) == 1 else f"({' + '.join(es)})", r) for es, r in merged.values()]
        if all(len(r) == size and np.array_equal(r, full) for _, r in cs):
            return f"    {dname} = " + " + ".join(e for e, _ in cs)
        cat = cs[0][0] if len(cs) == 1 else f"_cat(({', '.join(e for e, _ in cs)},))"
        t = np.concatenate([r for _, r in cs])
        perm = np.argsort(t, kind="stable")
        st = t[perm]
        starts = np.flatnonzero(np.r_[True, st[1:] != st[:-1]])
        uniq = st[starts]
        if self.hkind[h] == _STATIC and not (len(uniq) == size == len(st)):
            # one column: bincount adds each row's contributions in one pass, no sort needed
            return f"    {dname} = _np.bincount({self.table(t)}, {cat}.ravel(), {size})[:, None]"
        src = cat if np.array_equal(perm, np.arange(len(perm))) else f"{cat}[{self.table(perm)}]"
        summed = (
            src if len(starts) == len(st) else f"_np.add.reduceat({src}, {self.table(starts)}, 0)"
        )
        if len(uniq) == size:
            return f"    {dname} = {summed}"
        return (
            f"    {dname} = _np.zeros(({size}, {self._width(h)})); "
            f"{dname}[{self.table(uniq)}] = {summed}"
        )

    def _group(self, k: int, nodes: list[int], out: list[str]) -> Callable[[list[str]], None]:
        """Forward lines of group ``k`` into ``out``; returns its backward writer."""
        g = self.g
        first = nodes[0]
        op = self.op(first)
        kind = g.kind[first]
        m = len(g.parents[first])
        kn = len(nodes)
        h = f"t{k}"
        par = np.array([g.parents[i] for i in nodes], dtype=np.intp).reshape(kn, m)
        shown = ", ".join(_comment(g.names[i], 20) for i in nodes[:4])
        more = f", ... ({kn})" if kn > 4 else ""
        level = f"{'sample' if kind == _SAMPLE else 'static'} level {g.level[first]}"
        out.append(f"    # {_comment(op.name)} x{kn}, {level}: {shown}{more}")
        mm = self._matmul_side(first)
        if mm is not None:
            return self._group_matmul(k, nodes, par, mm[0], out)
        if m > 0 and self.is_sum(op):
            return self._group_sum(k, nodes, par, out)
        # Generic: one gathered array per input position, the op's own template over them.
        args: list[str] = []
        seen: dict[bytes, str] = {}
        for j in range(m):
            key = par[:, j].tobytes()
            if key not in seen:
                seen[key] = self._bind(out, f"a{k}_{j}", self.gather(par[:, j]))
            args.append(seen[key])
        t = self.tmpl(first)
        shape = f"({kn}, {self._width(kind)})"
        expr = t.forward(args, h)
        partials = t.partials(args, h) if g.needs[first] else None
        if expr is not None and partials is not None:
            shared, expr, partials = _hoist(expr, partials, h, f"m{k}")
            out.extend(f"    {name} = {sub}" for name, sub in shared)
        if expr is None:
            fx = self.fallback.add(op, [g.descs[i] for i in nodes])
            expr = f"_fwd({fx}, {shape}{''.join(', ' + a for a in args)})"
        elif template_names(expr).isdisjoint(
            a for j, a in enumerate(args) if g.kind[par[0, j]] == kind
        ):
            expr = f"_np.broadcast_to({expr}, {shape})"
        out.append(f"    {h} = {expr}")

        def backward(lines: list[str]) -> None:
            lines.append(f"    # {_comment(op.name)} x{kn} ({h})")
            lines.append(self._accumulate(h, f"d{k}"))
            ps = partials
            if ps is None:
                bx = self.fallback.add(op, [g.descs[i] for i in nodes])
                lines.append(
                    f"    q{k} = _bwd({bx}, {shape}{''.join(', ' + a for a in [*args, h])})"
                )
                ps = [f"q{k}[{j}]" for j in range(m)]
            for j in range(m):
                col = par[:, j]
                if not any(g.needs[i] for i in col):
                    continue
                term = scaled(f"d{k}", ps[j])
                if g.kind[col[0]] == _STATIC and kind == _SAMPLE:
                    term = f"({term}).sum(1, keepdims=True)"
                var = self._bind(lines, f"c{k}_{j}", term)
                self._send(lines, var, col)

        return backward

    def _group_sum(
        self, k: int, nodes: list[int], par: IntArray, out: list[str]
    ) -> Callable[[list[str]], None]:
        g = self.g
        kind = g.kind[nodes[0]]
        h = f"t{k}"
        parts: list[tuple[IntArray, str]] = []
        terms = []
        for pk in (_SAMPLE, _STATIC):
            cols = [j for j in range(par.shape[1]) if g.kind[par[0, j]] == pk]
            if not cols:
                continue
            sub = par[:, cols]
            var = self._bind(out, f"a{k}_{pk}", self.gather(sub))
            parts.append((sub, var))
            terms.append(f"{var}.sum(1)")
        out.append(f"    {h} = " + " + ".join(terms))

        def backward(lines: list[str]) -> None:
            lines.append(f"    # sum x{len(nodes)} ({h}): every input receives the sum's gradient")
            lines.append(self._accumulate(h, f"d{k}"))
            for sub, _ in parts:
                if not any(g.needs[i] for i in sub.ravel()):
                    continue
                src = f"d{k}"
                if g.kind[sub[0, 0]] == _STATIC and kind == _SAMPLE:
                    src = f"d{k}.sum(1, keepdims=True)"
                var = self._bind(
                    lines, f"c{k}_{g.kind[sub[0, 0]]}", f"_np.repeat({src}, {sub.shape[1]}, 0)"
                )
                self._send(lines, var, sub.ravel())

        return backward

    def _group_matmul(
        self, k: int, nodes: list[int], par: IntArray, side: str, out: list[str]
    ) -> Callable[[list[str]], None]:
        """Fused neurons sharing one side: Z = V @ S (+ b), V static (nodes x n)."""
        g = self.g
        kind = g.kind[nodes[0]]
        h = f"t{k}"
        m = par.shape[1] // 2
        ws, xs = par[:, :m], par[:, m : 2 * m]
        vary, shared = (ws, xs[0]) if side == "x" else (xs, ws[0])
        v = self._bind(out, f"v{k}", self.gather(vary, squeeze=True))
        s = self._bind(out, f"s{k}", self.gather(shared))
        skind = g.kind[shared[0]]
        expr = f"{v} @ {s}"
        bias = par[:, 2 * m] if par.shape[1] & 1 else None
        b = ""
        if bias is not None:
            b = self._bind(out, f"b{k}", self.gather(bias))
            expr += f" + {b}"
        out.append(f"    {h} = {expr}")

        def backward(lines: list[str]) -> None:
            lines.append(
                f"    # fused neurons x{len(nodes)} ({h}): dV = dZ S^T, dS = V^T dZ, db = dZ"
            )
            lines.append(self._accumulate(h, f"d{k}"))
            dz = f"d{k}"
            if skind == _STATIC and kind == _SAMPLE:
                dz = self._bind(lines, f"r{k}", f"d{k}.sum(1, keepdims=True)")
            if any(g.needs[i] for i in vary.ravel()):
                var = self._bind(lines, f"cv{k}", f"({dz} @ {s}.T).reshape(-1, 1)")
                self._send(lines, var, vary.ravel())
            if any(g.needs[i] for i in shared):
                var = self._bind(lines, f"cs{k}", f"{v}.T @ {dz}")
                self._send(lines, var, shared)
            if bias is not None and any(g.needs[i] for i in bias):
                bterm = f"d{k}"
                if g.kind[bias[0]] == _STATIC and kind == _SAMPLE:
                    bterm = self._bind(lines, f"cb{k}", f"d{k}.sum(1, keepdims=True)")
                self._send(lines, bterm, bias)

        return backward

    # -- the whole text ----------------------------------------------------------------------

    def source(self) -> str:
        g = self.g
        r = g.root
        about = (
            f"root {g.descs[r]}: {len(g.values)} nodes, {len(g.inputs)} input column(s), "
            f"{len(g.params)} parameter(s)."
        )
        head = [
            "# Generated by autograd.compile. Do not edit: compile the graph again instead.",
            "# " + _comment(about, 200),
            "# X: (inputs, N) columns; P: (parameters, 1) values read at every call;",
            "# seed: (1, N) weight of each sample's root (1/N for a mean, 1 for a sum).",
            "",
        ]
        batched = self.batched()  # first: it lays out the parameter vector
        body = self.per_node()
        tables = ["", "# Index tables, computed once at compile time."]
        for name, arr in self.table_defs:
            tables.append(
                f"{name} = _np.array({_int_list(arr.ravel())}, dtype=_np.intp)"
                + (f".reshape({arr.shape})" if arr.ndim != 1 else "")
            )
        return "\n".join(
            [
                *head,
                *body,
                "",
                "",
                "# The same program batched by level: what prog.forward and",
                "# prog.backward run. tK holds the values of one group of nodes (one op at one",
                "# level), dK their gradients.",
                *batched,
                *tables,
                "",
            ]
        )


def _hoist(
    fwd: str, partials: list[str], out: str, prefix: str
) -> tuple[list[tuple[str, str]], str, list[str]]:
    """Common subexpressions of an op's forward and partial templates, computed once.

    relu's ``where(x <= 0.0, 0.0, x)`` and ``where(x <= 0.0, 0.0, 1.0)`` share the mask
    ``x <= 0.0``: the forward pass binds it to a name and the backward pass reuses it. A partial
    that repeats the whole forward expression reads the output instead.

    Returns:
        ``(assignments, forward, partials)``, rewritten.
    """
    ftree = ast.parse(fwd, mode="eval")
    ptrees = [ast.parse(p, mode="eval") for p in partials]
    wanted = {ast.dump(n) for tree in ptrees for n in ast.walk(tree.body)}
    kinds = (ast.Compare, ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp)
    names: dict[str, str] = {}
    assigns: list[tuple[str, str]] = []
    covered: set[int] = set()
    for node in ast.walk(ftree.body):  # breadth first: the largest shared expression wins
        if id(node) in covered or not isinstance(node, kinds):
            continue
        key = ast.dump(node)
        if key not in wanted or key in names:
            continue
        if node is ftree.body:
            names[key] = out
        else:
            names[key] = f"{prefix}_{len(assigns)}"
            assigns.append((names[key], ast.unparse(node)))
        covered.update(id(n) for n in ast.walk(node))
    if not names:
        return [], fwd, partials

    class _Swap(ast.NodeTransformer):
        def visit(self, node: ast.AST) -> Any:
            name = names.get(ast.dump(node)) if isinstance(node, kinds) else None
            if name is not None:
                return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
            return self.generic_visit(node)

    new_fwd = fwd
    if ast.dump(ftree.body) not in names:
        new_fwd = ast.unparse(_Swap().visit(ftree))
    return assigns, new_fwd, [ast.unparse(_Swap().visit(tr)) for tr in ptrees]


def _int_list(a: IntArray) -> str:
    items = [str(int(x)) for x in a]
    lines = []
    for s in range(0, len(items), 24):
        lines.append(", ".join(items[s : s + 24]))
    return "[" + ",\n    ".join(lines) + "]"


# ---------------------------------------------------------------------------------------------
# The compiled program

_get_data = attrgetter("data")


class Program:
    """A graph compiled by :func:`compile`: call it on columns of per-sample inputs.

    Attributes:
        source: The generated Python (per-node section, then the batched section it runs).
        inputs: The leaf Values that are per-sample columns, in column order.
        parameters: Every other leaf, in graph order; their ``.data`` is read at each call and
            :meth:`backward` adds into their ``.grad``.
    """

    def __init__(self, root: Value, inputs: Sequence[Value]) -> None:
        g = _Graph(root, inputs)
        gen = _Gen(g)
        self.source: str = gen.source()
        self.inputs: tuple[Value, ...] = tuple(g.inputs)
        self.parameters: tuple[Value, ...] = tuple(g.params)
        self.n_nodes = len(g.values)
        self._seeds: dict[tuple[int, str], FloatArray] = {}
        self._input_names = [g.names[i] for i in range(len(g.values)) if g.input_of[i] >= 0]
        fb = gen.fallback
        ns: dict[str, Any] = dict(NUMPY_NAMESPACE)
        ns.update(
            _np=np,
            _cat=np.concatenate,
            total=np.sum,
            _fwd=fb.forward,
            _bwd=fb.partials,
        )
        code = builtins.compile(self.source, "<autograd.compile>", "exec")
        exec(code, ns)
        # Popped, so that the namespace does not hold the functions whose globals it is (no
        # reference cycle: a dropped program is freed at once, like a graph).
        self._forward: Callable[[FloatArray, FloatArray], FloatArray] = ns.pop("forward")
        self._backward: Callable[..., tuple[FloatArray, FloatArray]] = ns.pop("backward")
        self._per_node: Callable[..., tuple[Any, FloatArray]] = ns.pop("per_node")

    def __repr__(self) -> str:
        return (
            f"<autograd.compile Program: {self.n_nodes} nodes, {len(self.inputs)} inputs, "
            f"{len(self.parameters)} parameters>"
        )

    # -- calling -----------------------------------------------------------------------------

    def _columns(self, columns: Sequence[Any]) -> tuple[FloatArray, int]:
        n_in = len(self.inputs)
        if len(columns) != n_in:
            names = ", ".join(repr(v.label or f"inputs[{j}]") for j, v in enumerate(self.inputs))
            raise TypeError(
                f"compiled program takes {n_in} column(s), one per input ({names}), "
                f"got {len(columns)}"
            )
        if n_in == 0:
            return np.empty((0, 1)), 1
        try:  # the common case in one call; anything unusual gets the checks below
            X = np.array(columns, dtype=np.float64)
            if X.ndim == 2 and X.shape[1] > 0:
                return X, X.shape[1]
        except (TypeError, ValueError):
            pass
        arrs = []
        for j, c in enumerate(columns):
            try:
                a = np.asarray(c, dtype=np.float64)
            except (TypeError, ValueError) as e:
                raise TypeError(f"column {j} (input {_describe(self.inputs[j])}): {e}") from None
            if a.ndim != 1:
                raise ValueError(
                    f"column {j} (input {_describe(self.inputs[j])}) must have shape (N,), "
                    f"got shape {a.shape}"
                )
            arrs.append(a)
        n = arrs[0].shape[0]
        for j, a in enumerate(arrs):
            if a.shape[0] != n:
                raise ValueError(
                    f"columns differ in length: column 0 has {n} samples, column {j} "
                    f"(input {_describe(self.inputs[j])}) has {a.shape[0]}"
                )
        if n == 0:
            raise ValueError("compiled program: columns must hold at least one sample")
        return np.array(arrs), n

    def _params(self) -> FloatArray:
        n = len(self.parameters)
        return np.fromiter(map(_get_data, self.parameters), np.float64, n).reshape(n, 1)

    def _add_grads(self, dP: FloatArray) -> None:
        for p, d in zip(self.parameters, dP.ravel().tolist()):
            p.grad += d

    def _seed(self, n: int, reduction: str) -> FloatArray:
        key = (n, reduction)
        seed = self._seeds.get(key)
        if seed is None:  # kept: the generated code never writes into its inputs
            if reduction == "mean":
                seed = np.full((1, n), 1.0 / n)
            elif reduction == "sum":
                seed = np.ones((1, n))
            else:
                raise ValueError(f"reduction must be 'mean' or 'sum', got {reduction!r}")
            if len(self._seeds) > 8:
                self._seeds.clear()
            self._seeds[key] = seed
        return seed

    @staticmethod
    def _root(r: Any, n: int) -> FloatArray:
        a = np.asarray(r, dtype=np.float64).reshape(-1)
        return a if a.shape[0] == n else np.full(n, a[0])

    def forward(self, *columns: Any) -> FloatArray:
        """The root for each sample.

        Args:
            *columns: One 1-D array-like of N floats per input, in the order of ``inputs``.

        Returns:
            Array of shape (N,).
        """
        X, n = self._columns(columns)
        P = self._params()
        with np.errstate(all="ignore"):
            return self._root(self._forward(X, P), n)

    def backward(self, *columns: Any, reduction: str = "mean") -> FloatArray:
        """Add d(mean or sum over samples of the root)/d(parameter) into each ``.grad``.

        Args:
            *columns: One 1-D array-like of N floats per input.
            reduction: ``"mean"`` (default) or ``"sum"`` over the samples.

        Returns:
            The root for each sample, shape (N,).
        """
        X, n = self._columns(columns)
        seed = self._seed(n, reduction)
        P = self._params()
        with np.errstate(all="ignore"):
            r, dP = self._backward(X, P, seed)
        self._add_grads(dP)
        return self._root(r, n)

    def backward_per_node(self, *columns: Any, reduction: str = "mean") -> FloatArray:
        """As :meth:`backward`, running the readable per-node section of :attr:`source`."""
        X, n = self._columns(columns)
        seed = self._seed(n, reduction)
        P = self._params()
        with np.errstate(all="ignore"):
            r, dP = self._per_node(X, P, seed[0])
        self._add_grads(np.asarray(dP, dtype=np.float64))
        return self._root(r, n)


def compile(root: Value, inputs: Sequence[Value]) -> Program:
    """Compile the graph of ``root`` into batched numpy code.

    Args:
        root: The node to evaluate per sample (a loss for one sample, or a network output).
        inputs: Leaf Values that become per-sample columns. Every other leaf the root depends
            on is a parameter read live from ``.data`` at every call.

    Returns:
        A :class:`Program`: ``prog.forward(*columns)``, ``prog.backward(*columns,
        reduction="mean")`` and ``prog.source``.

    Raises:
        TypeError: ``root`` or an input is not a Value.
        CompileError: an input is not a leaf, repeats, or an op's template is unusable; the
            message names the node.
    """
    return Program(root, inputs)
