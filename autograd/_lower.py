"""Lowering a :class:`~autograd.graph.Graph` to the compiler's view of it, and the readable
per-node program (the teaching section of ``Program.source``).

:class:`Lowered` reads a Graph (no walk of its own) and adds what code generation needs: each
node's kind (``static``: depends on parameters and constants only; ``sample``: on at least one
input column), its level (longest path from a leaf of its kind), whether a gradient must reach
it, its column/parameter/constant slot, its identifier and its description for messages.
Leaves are per-sample inputs (the columns given to ``compile``), parameters (leaves that
require grad: read live at every call, ``.grad`` accumulated) or constants (numbers used as
operands and other leaves that need no grad: baked into the program's constant vector ``C``).

:func:`per_node_source` writes ``per_node(X, P, seed)``: one line per node forward, one line
per chain-rule step backward. Every gradient there is per sample (shape (N,)); a parameter's
gradient is the total over samples at the end, so the program computes exactly what the
interpreter computes sample by sample (also at inf and NaN).

Templates are read from the op rows (``code`` / ``grad_code``) and checked once per (op,
number of inputs) over placeholder names (:class:`Templates`); a node's text is then a plain
``str.format`` of the cached pattern.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from .engine import Value
from .graph import Graph
from .ops import Op, numpy_namespace, scaled

__all__ = [
    "NUMPY_NAMESPACE",
    "SAMPLE",
    "STATIC",
    "CompileError",
    "Fallback",
    "Lowered",
    "Templates",
    "pattern",
    "per_node_source",
    "templates_of",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.intp]


class CompileError(ValueError):
    """The graph (or an op's code template) cannot be compiled; the message names the node."""


#: The names code templates may use, bound to numpy functions (elementwise on arrays), derived
#: from the op table's one list of template functions.
NUMPY_NAMESPACE: dict[str, Any] = numpy_namespace(np)

# Names of the generated code itself; node identifiers never take them.
_RESERVED = frozenset(
    {"X", "P", "C", "N", "seed", "dP", "total"}
    | set(NUMPY_NAMESPACE)
    | set(dir(builtins))
    | set(keyword.kwlist)
    | set(keyword.softkwlist)
)

STATIC, SAMPLE = 0, 1  # node kinds: depends on parameters/constants only / on an input column


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


def _check_expr(text: object, allowed: Iterable[str], what: str) -> ast.Expression:
    """``text`` parsed, if it is one Python expression using only ``allowed`` names and
    template functions, else :class:`CompileError` saying which."""
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
    return tree


_PLACEHOLDER = re.compile(r"\b_(A\d+|M\d+|OUT|G)_\b")


def pattern(text: str) -> str:
    """Text over placeholder names as a ``str.format`` pattern: ``_A3_`` -> ``{3}``,
    ``_OUT_`` -> ``{out}``, ``_G_`` -> ``{g}``, ``_M2_`` -> ``{m}_2`` (braces of the text
    itself escaped)."""
    esc = text.replace("{", "{{").replace("}", "}}")

    def sub(m: re.Match[str]) -> str:
        name = m.group(1)
        if name[0] == "A":
            return "{" + name[1:] + "}"
        if name[0] == "M":  # a hoisted subexpression: {m}_0, {m}_1 ...
            return "{m}_" + name[1:]
        return "{" + name.lower() + "}"

    return _PLACEHOLDER.sub(sub, esc)


class Templates:
    """An op's templates for ``nargs`` inputs, rendered and checked ONCE over placeholder
    names; a node's text is then a ``str.format`` of the cached pattern.

    Attributes:
        fwd: The forward pattern over ``{0}``.. and ``{out}``, or ``None`` (no template: the
            op runs element by element).
        parts: The partial patterns, one per input, or ``None``.
        chained: ``scaled(g, partial)`` per input (the chain-rule step as PyTorch computes
            it: masked branches select, ``1 / x`` divides), over ``{g}`` too.
        reads: The input positions the forward pattern reads.
    """

    def __init__(self, op: Op, nargs: int, where: str) -> None:
        self.op = op
        names = [f"_A{i}_" for i in range(nargs)]
        allowed = [*names, "_OUT_"]
        self.fwd: str | None = None
        self.parts: list[str] | None = None
        self.chained: list[str] | None = None
        self.reads: frozenset[int] = frozenset()
        self.fwd_text = ""  # the same over the placeholder names themselves
        self.chained_texts: list[str] = []
        code, gc_ = op.code, op.grad_code
        if code is not None:
            what = f"{where}: op {op.name!r} code template"
            try:
                text = code(names, "_OUT_") if callable(code) else code.format(*names, out="_OUT_")
            except (IndexError, KeyError, ValueError, TypeError) as e:
                raise CompileError(f"{what} cannot take {nargs} input(s): {e}") from None
            tree = _check_expr(text, allowed, what)
            self.reads = frozenset(
                int(n.id[2:-1])
                for n in ast.walk(tree)
                if isinstance(n, ast.Name) and n.id.startswith("_A")
            )
            self.fwd, self.fwd_text = pattern(text), text
        if gc_ is not None:
            what = f"{where}: op {op.name!r} grad_code"
            try:
                if callable(gc_):
                    texts = list(gc_(names, "_OUT_"))
                else:
                    texts = [t.format(*names, out="_OUT_") for t in gc_]
            except (IndexError, KeyError, ValueError, TypeError) as e:
                raise CompileError(f"{what} cannot take {nargs} input(s): {e}") from None
            if len(texts) != nargs:
                raise CompileError(f"{what} gives {len(texts)} partial(s) for {nargs} input(s)")
            for t in texts:
                _check_expr(t, allowed, what)
            self.parts = [pattern(t) for t in texts]
            sel = op.selects or (True,) * len(texts)
            self.chained_texts = [
                scaled("_G_", t, sel[i] if i < len(sel) else True) for i, t in enumerate(texts)
            ]
            self.chained = [pattern(t) for t in self.chained_texts]

        self.nargs = nargs
        self._fns: tuple[Any, list[Any]] | None = None
        self.hoisted: Any = None  # the batched backend's common subexpressions (its cache)

    def functions(self) -> tuple[Any, list[Any]]:
        """The templates as Python functions over numpy arrays (made once, for thin runs):
        ``fwd(a0, a1, ..)`` and, per input j, ``chain_j(g, a0, a1, .., out)``; a chain step
        that reads no ``g`` (a literal 0) is broadcast to ``g``'s shape. Needs both templates.
        """
        if self._fns is None:
            assert self.fwd_text and self.chained_texts is not None
            args = ", ".join(f"_A{i}_" for i in range(self.nargs))
            ns = dict(NUMPY_NAMESPACE, _bcast=np.broadcast_to)
            fwd = eval(f"lambda {args}: {self.fwd_text}", ns)  # a checked template
            chains = []
            for text in self.chained_texts:
                reads_g = any(
                    isinstance(n, ast.Name) and n.id == "_G_"
                    for n in ast.walk(ast.parse(text, mode="eval"))
                )
                body = text if reads_g else f"_bcast({text}, _G_.shape)"
                chains.append(eval(f"lambda _G_, {args}, _OUT_: {body}", ns))
            self._fns = (fwd, chains)
        return self._fns

    def forward(self, names: Sequence[str], out: str) -> str | None:
        return None if self.fwd is None else self.fwd.format(*names, out=out)

    def partials(self, names: Sequence[str], out: str) -> list[str] | None:
        if self.parts is None:
            return None
        return [p.format(*names, out=out) for p in self.parts]

    def chain(self, j: int, g: str, names: Sequence[str], out: str) -> str:
        """``g * d out / d input j`` over the given names (the row's templates must exist)."""
        assert self.chained is not None
        return self.chained[j].format(*names, out=out, g=g)


_TEMPLATE_CACHE: dict[tuple[int, int], Templates] = {}


def templates_of(op: Op, nargs: int, where: str) -> Templates:
    """``Templates(op, nargs)``, made once per process (an op row is immutable); ``where``
    names the node in the error raised if the templates are unusable (never cached)."""
    key = (id(op), nargs)
    t = _TEMPLATE_CACHE.get(key)
    if t is None or t.op is not op:
        t = Templates(op, nargs, where)
        if len(_TEMPLATE_CACHE) > 4096:  # rows made and dropped by the thousand: start over
            _TEMPLATE_CACHE.clear()
        _TEMPLATE_CACHE[key] = t
    return t


# ---------------------------------------------------------------------------------------------
# Element-by-element fallback for ops without templates (called from generated code)


class Fallback:
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


def describe(v: Value, i: int | None = None) -> str:
    """How messages name a node: ``leaf #3 'w' (data=0.5)``, ``node #7 'z' (op 'dot')``."""
    num = f" #{i}" if i is not None else ""
    lab = f" {v.label!r}" if v.label else ""
    if v.is_leaf:
        return f"leaf{num}{lab} (data={v.data!r})"
    return f"node{num}{lab} (op {v.op!r})"


def _check_inputs(inputs: Sequence[Value]) -> list[Value]:
    if isinstance(inputs, Value) or not isinstance(inputs, Iterable):
        raise TypeError(
            f"compile: inputs must be a list of leaf Values, got {type(inputs).__name__}"
        )
    inputs = list(inputs)
    pos: dict[int, int] = {}
    for j, v in enumerate(inputs):
        if not isinstance(v, Value):
            raise TypeError(f"compile: inputs[{j}] must be a Value, got {type(v).__name__}: {v!r}")
        if not v.is_leaf:
            raise CompileError(
                f"compile: inputs[{j}] is {describe(v)}, not a leaf: only leaf Values can "
                "be per-sample columns (compile the graph from the leaves it starts at)"
            )
        if id(v) in pos:
            raise CompileError(
                f"compile: inputs[{j}] ({describe(v)}) is the same Value as "
                f"inputs[{pos[id(v)]}]; each input must be a different leaf"
            )
        pos[id(v)] = j
    return inputs


class Lowered:
    """A :class:`Graph` as code generation sees it (all state set here, read-only after).

    Attributes:
        graph: The Graph read (nodes in topological order, parents by index, op rows).
        inputs: The input leaves (columns), in column order.
        params: The leaves that require grad, in graph order (the batched backend lays them
            out again: :meth:`place_params`).
        consts: The values of the constant leaves (``C[k, 0]``).
        kind: ``STATIC`` or ``SAMPLE`` per node.
        level: Longest path from a leaf of the node's kind.
        needs: Whether a gradient must reach the node (a parameter depends on it).
        input_of / param_of / const_of: The node's column / parameter / constant slot, or -1.
        names: Unique identifiers (labels reduced to ``[A-Za-z0-9_]``), made when first read
            (only the per-node program needs them).
        descs: Descriptions for messages, made when first read (:meth:`desc` for one).
    """

    def __init__(self, graph: Graph, inputs: Sequence[Value]) -> None:
        self.graph = graph
        self.inputs = _check_inputs(inputs)
        pos = {id(v): j for j, v in enumerate(self.inputs)}
        nodes, ops, parents = graph.nodes, graph.ops, graph.parents
        self.ops = ops
        self.parents = parents
        n = len(nodes)
        self.n = n
        self.root = n - 1
        kind = [STATIC] * n
        level = [0] * n
        needs = [False] * n
        input_of = [-1] * n
        param_of = [-1] * n
        const_of = [-1] * n
        params: list[Value] = []
        consts: list[float] = []
        for i, ps in enumerate(parents):
            if ops[i] is None:
                v = nodes[i]
                j = pos.get(id(v), -1)
                if j >= 0:
                    input_of[i] = j
                    kind[i] = SAMPLE
                elif v.requires_grad:
                    param_of[i] = len(params)
                    params.append(v)
                    needs[i] = True
                else:
                    const_of[i] = len(consts)
                    consts.append(v.data)
                continue
            if len(ps) == 1:  # most nodes: one or two inputs, without the general loops
                p = ps[0]
                kind[i], level[i], needs[i] = kind[p], level[p] + 1, needs[p]
                continue
            if len(ps) == 2:
                p, q = ps
                kp, kq = kind[p], kind[q]
                needs[i] = needs[p] or needs[q]
                if kp == kq:
                    kind[i] = kp
                    lp, lq = level[p], level[q]
                    level[i] = (lp if lp > lq else lq) + 1
                elif kp == SAMPLE:
                    kind[i], level[i] = SAMPLE, level[p] + 1
                else:
                    kind[i], level[i] = SAMPLE, level[q] + 1
                continue
            k = STATIC
            lv = 0
            nd = False
            for p in ps:
                if kind[p] == SAMPLE:
                    k = SAMPLE
                nd = nd or needs[p]
            for p in ps:
                if kind[p] == k and level[p] > lv:
                    lv = level[p]
            kind[i] = k
            level[i] = lv + 1
            needs[i] = nd
        self.kind, self.level, self.needs = kind, level, needs
        self.input_of, self.param_of, self.const_of = input_of, param_of, const_of
        self.params, self.consts = params, consts
        self._templates: dict[tuple[int, int], Templates] = {}
        self._names: list[str] | None = None
        self._descs: list[str] | None = None

    def desc(self, i: int) -> str:
        """How messages name node ``i``."""
        return describe(self.graph.nodes[i], i)

    @property
    def descs(self) -> list[str]:
        if self._descs is None:
            self._descs = [describe(v, i) for i, v in enumerate(self.graph.nodes)]
        return self._descs

    @property
    def names(self) -> list[str]:
        if self._names is None:
            self._names = self._make_names()
        return self._names

    def _make_names(self) -> list[str]:
        ops = self.ops
        used = _Names()
        names: list[str] = []
        for i, v in enumerate(self.graph.nodes):
            base = _ident(v.label)
            if not base:
                op = ops[i]
                if op is not None:
                    base = (_ident(op.name) or "op") + f"_{i}"
                elif self.input_of[i] >= 0:
                    base = f"in{self.input_of[i]}"
                elif self.param_of[i] >= 0:
                    base = f"p{self.param_of[i]}"
                else:
                    base = f"c{self.const_of[i]}"
            names.append(used.take(base))
        return names

    def short(self, i: int) -> str:
        """A short name of node ``i`` for comments (its label, else its op and index)."""
        v = self.graph.nodes[i]
        if v.label:
            return v.label
        op = self.ops[i]
        return f"{op.name if op is not None else 'leaf'}_{i}"

    def op(self, i: int) -> Op:
        op = self.ops[i]
        if op is None:  # only op nodes are ever grouped; a leaf here is a compiler bug
            raise CompileError(f"internal: {self.desc(i)} is a leaf, not an op node")
        return op

    def templates(self, i: int) -> Templates:
        """The templates of node i's op for its number of inputs (made once per process)."""
        op = self.op(i)
        key = (id(op), len(self.parents[i]))
        t = self._templates.get(key)
        if t is None:
            t = self._templates[key] = templates_of(op, key[1], self.desc(i))
        return t

    def place_params(self, order: Sequence[int]) -> None:
        """Lay the parameter vector out in ``order`` (node indices of every parameter)."""
        self.params = [self.graph.nodes[i] for i in order]
        for r, i in enumerate(order):
            self.param_of[i] = r


# ---------------------------------------------------------------------------------------------
# The readable per-node program


def _note(lo: Lowered, i: int, what: str) -> str:
    lab = lo.graph.nodes[i].label
    return f"  # {_comment(what)} {_comment(lab)}".rstrip() if lab else f"  # {_comment(what)}"


def per_node_source(lo: Lowered, fallback: Fallback) -> list[str]:
    """``per_node(X, P, seed)``: one line per node forward, one per chain-rule step backward.

    Every gradient is per sample (``seed`` has shape (N,)), static nodes' too; a parameter's
    gradient is its total over the samples, taken last. So each sample's chain rule is the
    interpreter's, step for step (masked steps select, as in :func:`autograd.ops.scaled`).
    """
    nm = lo.names
    out = [
        "def per_node(X, P, seed):",
        "    # Forward pass, one line per node. Columns have shape (N,); parameters and",
        "    # constants are numbers; total(v) adds up over the samples.",
        "    N = X.shape[1]",
    ]
    for i in range(lo.n):
        if lo.input_of[i] >= 0:
            out.append(f"    {nm[i]} = X[{lo.input_of[i]}]{_note(lo, i, 'input')}")
        elif lo.param_of[i] >= 0:
            out.append(f"    {nm[i]} = P[{lo.param_of[i]}, 0]{_note(lo, i, 'parameter')}")
        elif lo.const_of[i] >= 0:
            out.append(f"    {nm[i]} = C[{lo.const_of[i]}, 0]{_note(lo, i, 'constant')}")
    fallback_of: dict[int, str] = {}
    for i in range(lo.n):
        op = lo.ops[i]
        if op is None:
            continue
        names = [nm[p] for p in lo.parents[i]]
        t = lo.templates(i)
        expr = t.forward(names, nm[i])
        shape = "(N,)" if lo.kind[i] == SAMPLE else "()"
        if expr is None:
            fx = fallback.add(op, [lo.descs[i]])
            expr = f"_fwd({fx}, {shape}{''.join(', ' + a for a in names)})"
        elif not any(lo.kind[lo.parents[i][j]] == lo.kind[i] for j in t.reads):
            expr = f"_np.broadcast_to({expr}, {shape})"
        out.append(f"    {nm[i]} = {expr}{_note(lo, i, op.name)}")
        if lo.needs[i] and t.chained is None:
            bx = fallback.add(op, [lo.descs[i]])
            args = "".join(", " + a for a in [*names, nm[i]])
            fallback_of[i] = f"_bwd({bx}, {shape}{args})"
    out.append("    # Backward pass, one line per local chain-rule step, per sample:")
    out.append("    # d_parent = d_parent + d_node * (d node / d parent).")
    r = lo.root
    if lo.needs[r]:
        out.append(f"    d_{nm[r]} = seed")
    started = {r}
    for i in range(lo.n - 1, -1, -1):
        if lo.ops[i] is None or not lo.needs[i]:
            continue
        names = [nm[p] for p in lo.parents[i]]
        t = lo.templates(i)
        got = fallback_of.get(i)
        if got is not None:  # element-by-element partials: one call gives them all
            out.append(f"    q_{nm[i]} = {got}")
        for j, p in enumerate(lo.parents[i]):
            if not lo.needs[p]:
                continue
            if got is not None:
                term = f"d_{nm[i]} * q_{nm[i]}[{j}]"
            else:
                term = t.chain(j, f"d_{nm[i]}", names, nm[i])
            if p in started:
                out.append(f"    d_{nm[p]} = d_{nm[p]} + {term}")
            else:
                started.add(p)
                out.append(f"    d_{nm[p]} = {term}")
    out.append(f"    dP = _np.zeros(({len(lo.params)}, 1))")
    for i in range(lo.n):
        if lo.param_of[i] >= 0:
            out.append(f"    dP[{lo.param_of[i]}, 0] = total(d_{nm[i]})")
    out.append(f"    return {nm[r]}, dP")
    return out
