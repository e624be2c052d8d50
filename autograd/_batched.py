"""The batched backend of :func:`autograd.compile`: what ``Program.forward`` and
``Program.backward`` run.

Nodes are scheduled by level (longest path from a leaf of their kind); all nodes of one op at
one level, with inputs of the same kinds, form a *group* and become ONE numpy expression over a
``(nodes, samples)`` array (a static group: ``(nodes, 1)``). Values live in holders: ``X``
(input columns), ``P`` (parameters, read live), ``C`` (constants, baked in at compile time)
and one ``tK`` per group. Index tables computed here once gather a group's inputs from the
holders (a slice, a view, or a fancy index) and route the gradient each consumer sends back;
``np.add.reduceat`` / ``np.bincount`` add up what a holder receives from all its consumers.

Two fast paths are chosen by what a row *declares*, never by its name: a ``"sum"`` row adds
its gathered inputs with one ``.sum``, and an ``"affine"`` row whose roles are
``(weight.., input.., [bias])`` is a fused neuron; neurons of one level that share their
inputs and whose weights are static become one matrix product ``W @ X``, with the parameter
vector laid out so that W is a contiguous block of ``P``.

A static node's gradient from sample nodes is summed over the samples where it enters (so a
penalty costs one column, not N). That is the interpreter's sum of per-sample gradients up to
rounding while everything is finite; ``Program.backward`` reruns the exact per-sample program
when a gradient comes out inf or NaN.
"""

from __future__ import annotations

import ast
import inspect
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, pairwise, repeat
from operator import is_not
from typing import Any

import numpy as np

from ._lower import (
    NUMPY_NAMESPACE,
    SAMPLE,
    STATIC,
    CompileError,
    Fallback,
    IntArray,
    Lowered,
    Templates,
    _comment,
    pattern,
)
from ._thin import ThinRun
from .ops import Op

__all__ = ["Batched", "Schedule", "table_source", "with_work_arrays"]


#: A group of at most this many nodes is thin: it may join a run (:mod:`autograd._thin`).
THIN_WIDTH = 4
#: Consecutive thin groups (of one kind) that make a run; shorter stretches keep their code.
MIN_RUN = 16
#: A thin run's ops take at most this many inputs (a long sum keeps its one-line reduction).
THIN_ARGS = 8


class Schedule:
    """The level schedule and the memory layout of a :class:`Lowered` graph (constructor).

    Attributes:
        order: The groups (lists of node indices), static first, then by level.
        units: What the program runs, in order: each a group, or a run of consecutive thin
            groups (``(True, nodes)`` for a run, ``(False, nodes)`` for a group). Unit k's
            values live in holder ``tK``.
        exported: Per run unit k, the nodes other holders read (and the root), in order.
        holder / row: Where each node's value lives: holder name (``X``, ``P``, ``C``,
            ``tK``) and row in it (-1: a run's node that no other holder reads).
        size / hkind: Rows and kind (``STATIC``/``SAMPLE``) of each holder.
    """

    def __init__(self, g: Lowered) -> None:
        self.g = g
        self.affine: dict[tuple[int, int], bool] = {}
        self._thin: dict[tuple[Any, int, bool], bool] = {}
        n = g.n
        ops, parents, kinds, needs = g.ops, g.parents, g.kind, g.needs
        order: list[list[int]] = []
        is_op = np.fromiter(map(is_not, ops, repeat(None)), bool, n)
        if is_op.any():
            level = np.array(g.level, dtype=np.intp)
            key = np.array(kinds, dtype=np.intp) * (int(level.max()) + 1) + level
            idx = np.flatnonzero(is_op)
            srt = idx[np.argsort(key[idx], kind="stable")]
            ks = key[srt]
            cuts = [0, *(np.flatnonzero(ks[1:] != ks[:-1]) + 1).tolist(), len(srt)]
            sl = srt.tolist()
            for a, b in pairwise(cuts):
                if b - a == 1:  # one node at this level: a group of its own
                    order.append(sl[a:b])
                    continue
                groups: dict[tuple[Any, ...], list[int]] = {}
                for i in sl[a:b]:  # by op, inputs' kinds, needs (and shared side, neurons)
                    ps = parents[i]
                    k: tuple[Any, ...] = (
                        id(ops[i]),
                        len(ps),
                        tuple([kinds[p] for p in ps]),
                        needs[i],
                    )
                    mm = self.matmul_side(i)
                    if mm is not None:
                        k += mm
                    groups.setdefault(k, []).append(i)
                order.extend(groups.values())
        self.order = order
        self._layout(order)
        self.units = self._units(order)
        self.holder = [""] * n
        self.row = [0] * n
        self.size: dict[str, int] = {"X": len(g.inputs), "P": len(g.params), "C": len(g.consts)}
        self.hkind: dict[str, int] = {"X": SAMPLE, "P": STATIC, "C": STATIC}
        for i in range(n):
            if g.input_of[i] >= 0:
                self.holder[i], self.row[i] = "X", g.input_of[i]
            elif g.param_of[i] >= 0:
                self.holder[i], self.row[i] = "P", g.param_of[i]
            elif g.const_of[i] >= 0:
                self.holder[i], self.row[i] = "C", g.const_of[i]
        self.exported: dict[int, list[int]] = {}
        out = self._read_outside() if any(run for run, _ in self.units) else None
        holder, row = self.holder, self.row
        for u, (run, nodes) in enumerate(self.units):
            h = f"t{u}"
            self.hkind[h] = g.kind[nodes[0]]
            if run:
                assert out is not None
                ex = [i for i in nodes if out[i]]
                self.exported[u] = ex
                self.size[h] = len(ex)
                for i in nodes:
                    holder[i], row[i] = h, -1
                for r, i in enumerate(ex):
                    row[i] = r
                continue
            self.size[h] = len(nodes)
            for r, i in enumerate(nodes):
                holder[i], row[i] = h, r

    def thin(self, nodes: list[int]) -> bool:
        """May group ``nodes`` join a thin run? Tiny, and its op has the templates a run
        evaluates (a forward and, if a gradient must reach it, the chain steps)."""
        if len(nodes) > THIN_WIDTH:
            return False
        g = self.g
        first = nodes[0]
        key = (g.ops[first], len(g.parents[first]), g.needs[first])  # rows: by identity
        ok = self._thin.get(key)
        if ok is None:
            ok = 0 < key[1] <= THIN_ARGS
            if ok:
                t = g.templates(first)
                ok = t.fwd is not None and (t.chained is not None or not key[2])
            self._thin[key] = ok
        return ok

    def _units(self, order: list[list[int]]) -> list[tuple[bool, list[int]]]:
        """Groups, with each stretch of >= MIN_RUN consecutive thin groups of one kind made
        one run."""
        g = self.g
        kinds, ops, parents, needs = g.kind, g.ops, g.parents, g.needs
        units: list[tuple[bool, list[int]]] = []
        known = self._thin
        width = THIN_WIDTH
        start = 0  # order[start:k]: the current stretch of thin groups
        for k, grp in enumerate(order):
            first = grp[0]
            ok = False
            if len(grp) <= width:
                got = known.get((ops[first], len(parents[first]), needs[first]))
                ok = self.thin(grp) if got is None else got
            if ok and (start == k or kinds[order[start][0]] == kinds[first]):
                continue
            self._flush(units, order, start, k)
            start = k
            if not ok:
                units.append((False, grp))
                start = k + 1
        self._flush(units, order, start, len(order))
        return units

    @staticmethod
    def _flush(units: list[tuple[bool, list[int]]], order: list[list[int]], a: int, b: int) -> None:
        if b - a >= MIN_RUN:
            units.append((True, list(chain.from_iterable(order[a:b]))))
        else:
            units.extend((False, grp) for grp in order[a:b])

    def _read_outside(self) -> list[bool]:
        """Per node: is it read by a node outside its run (or the root)?"""
        g = self.g
        n = g.n
        run_of = np.full(n, -1, dtype=np.intp)
        for k, (run, nodes) in enumerate(self.units):
            if run:
                run_of[nodes] = k
        lens = np.fromiter(map(len, g.parents), np.intp, n)
        par = np.fromiter(chain.from_iterable(g.parents), np.intp, int(lens.sum()))
        child = np.repeat(np.arange(n, dtype=np.intp), lens)
        rp = run_of[par]
        out = np.zeros(n, dtype=bool)
        out[par[(rp >= 0) & (rp != run_of[child])]] = True
        out[g.root] = True
        got: list[bool] = out.tolist()
        return got

    def is_affine(self, op: Op, n: int) -> bool:
        """Does the row say: sum_i w_i x_i [+ b] over inputs (w.., x.., [b])?"""
        key = (id(op), n)
        r = self.affine.get(key)
        if r is None:
            k = n >> 1
            want = ("weight",) * k + ("input",) * k + (("bias",) if n & 1 else ())
            r = self.affine[key] = op.structure == "affine" and op.input_roles(n) == want
        return r

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

        ops = g.ops
        for nodes in order:
            op = ops[nodes[0]]
            if op is None or op.structure != "affine":
                continue
            mm = self.matmul_side(nodes[0])
            if mm is None:
                continue
            par = np.array([g.parents[i] for i in nodes], dtype=np.intp)
            m = par.shape[1] // 2
            put((par[:, :m] if mm[0] == "x" else par[:, m : 2 * m]).ravel().tolist())
            if par.shape[1] & 1:
                put(par[:, 2 * m].tolist())
        put(range(g.n))
        g.place_params(placed)

    def matmul_side(self, i: int) -> tuple[str, tuple[int, ...]] | None:
        """For a fused-neuron node: which side is shared ('x': weights vary and are static)."""
        g = self.g
        op = g.ops[i]
        ps = g.parents[i]
        m = len(ps) >> 1
        if op is None or m == 0 or not self.is_affine(op, len(ps)):
            return None
        ks = list(map(g.kind.__getitem__, ps))
        # V must be static; S of one kind, so that S and its gradient have one width.
        kw, kx = ks[:m], ks[m : 2 * m]
        if SAMPLE not in kw and len(set(kx)) == 1:
            return ("x", tuple(ps[m : 2 * m]))
        if SAMPLE not in kx and len(set(kw)) == 1:
            return ("w", tuple(ps[:m]))
        return None


class Batched:
    """The batched program of a :class:`Lowered` graph, written in the constructor from its
    :class:`Schedule`.

    Attributes:
        lines: ``forward(X, P)`` and ``backward(X, P, seed)``, as source lines.
        table_defs: The index tables the lines read, ``(name, array)``.
        fallback: The element-by-element entries the lines call.
    """

    def __init__(self, g: Lowered, fallback: Fallback) -> None:
        self.g = g
        self.fallback = fallback
        self.schedule = sch = Schedule(g)  # lays out the parameter vector (g.place_params)
        self.holder, self.row, self.size, self.hkind = sch.holder, sch.row, sch.size, sch.hkind
        self.matmul_side = sch.matmul_side
        self.tables: dict[tuple[tuple[int, ...], bytes], str] = {}
        self.table_defs: list[tuple[str, IntArray]] = []
        self.contribs: dict[str, list[tuple[str, IntArray]]] = {}
        self.run_defs: list[tuple[str, ThinRun]] = []
        self.lines = self._write()

    @staticmethod
    def _hoist(t: Templates) -> _Hoisted:
        got: _Hoisted | None = t.hoisted  # worked out once per process, like the templates
        if got is None:
            got = t.hoisted = _Hoisted(t)
        return got

    # -- shared helpers ----------------------------------------------------------------------

    def table(self, arr: Any) -> str:
        a = np.ascontiguousarray(arr, dtype=np.intp)
        key = (a.shape, a.tobytes())
        name = self.tables.get(key)
        if name is None:
            name = self.tables[key] = f"_i{len(self.table_defs)}"
            self.table_defs.append((name, a))
        return name

    # -- section 2: batched by level ---------------------------------------------------------

    def _write(self) -> list[str]:
        g = self.g
        units = self.schedule.units
        fwd: list[str] = []
        bwd_plans: list[Callable[[list[str]], None]] = []
        for k, (run, nodes) in enumerate(units):
            plan = self._run(k, nodes, fwd) if run else self._group(k, nodes, fwd)
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
            seeded = "seed" if g.kind[r] == SAMPLE else "seed.sum(1, keepdims=True)"
            self.contribs.setdefault(rh, []).append((seeded, np.array([rr], dtype=np.intp)))
        needs = g.needs
        for k in range(len(units) - 1, -1, -1):
            run, nodes = units[k]
            if any(map(needs.__getitem__, nodes)) if run else needs[nodes[0]]:
                bwd_plans[k](back)
        if g.params:
            back.append(self._accumulate("P", "dP"))
        else:
            back.append("    dP = _np.zeros((0, 1))")
        lines += back
        lines.append(f"    return {ret}, dP")
        return lines

    def _width(self, h_or_kind: str | int) -> str:
        kind = self.hkind[h_or_kind] if isinstance(h_or_kind, str) else h_or_kind
        return "N" if kind == SAMPLE else "1"

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
        pre: list[str] = []  # long sums get lines of their own
        cs = []
        for es, r in merged.values():
            if len(es) > 32:
                pre.append(_sum_lines(f"{dname}_{len(pre)}", es))
                cs.append((f"{dname}_{len(pre) - 1}", r))
            else:
                cs.append((es[0] if len(es) == 1 else f"({' + '.join(es)})", r))
        return "\n".join([*pre, self._accumulated(h, dname, cs, size, full)])

    def _accumulated(
        self, h: str, dname: str, cs: list[tuple[str, IntArray]], size: int, full: IntArray
    ) -> str:
        if all(len(r) == size and np.array_equal(r, full) for _, r in cs):
            return _sum_lines(dname, [e for e, _ in cs])
        cat = cs[0][0] if len(cs) == 1 else f"_cat(({', '.join(e for e, _ in cs)},))"
        t = np.concatenate([r for _, r in cs])
        perm = np.argsort(t, kind="stable")
        st = t[perm]
        starts = np.flatnonzero(np.r_[True, st[1:] != st[:-1]])
        uniq = st[starts]
        if self.hkind[h] == STATIC and not (len(uniq) == size == len(st)):
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

    def _run(self, k: int, nodes: list[int], out: list[str]) -> Callable[[list[str]], None]:
        """Forward line of thin run ``k`` into ``out``; returns its backward writer."""
        sch = self.schedule
        h = f"t{k}"
        holder, row = self.holder, self.row
        tr = ThinRun(self.g, nodes, sch.exported[k], lambda p: (holder[p], row[p]))
        name = f"_r{k}"
        self.run_defs.append((name, tr))
        kind = "sample" if tr.kind == SAMPLE else "static"
        out.append(f"    # thin run of {len(nodes)} {kind} node(s), run from tables ({name})")
        out.append(f"    {h}, v{k} = {name}.forward(N, ({''.join(x + ', ' for x in tr.holders)}))")

        def backward(lines: list[str]) -> None:
            lines.append(f"    # thin run {name} ({h}): the chain rule step by step, in reverse")
            d = "None"
            if self.contribs.get(h):
                d = f"d{k}"
                lines.append(self._accumulate(h, d))
            if not tr.sends:
                return
            names = [f"e{k}_{j}" for j in range(len(tr.sends))]
            lines.append(f"    {', '.join(names)}, = {name}.backward(v{k}, {d})")
            for var, (hh, rows) in zip(names, tr.sends):
                self.contribs.setdefault(hh, []).append((var, rows))

        return backward

    def _group(self, k: int, nodes: list[int], out: list[str]) -> Callable[[list[str]], None]:
        """Forward lines of group ``k`` into ``out``; returns its backward writer."""
        g = self.g
        first = nodes[0]
        op = g.op(first)
        kind = g.kind[first]
        m = len(g.parents[first])
        kn = len(nodes)
        h = f"t{k}"
        par = np.array([g.parents[i] for i in nodes], dtype=np.intp).reshape(kn, m)
        shown = ", ".join(_comment(g.short(i), 20) for i in nodes[:4])
        more = f", ... ({kn})" if kn > 4 else ""
        level = f"{'sample' if kind == SAMPLE else 'static'} level {g.level[first]}"
        out.append(f"    # {_comment(op.name)} x{kn}, {level}: {shown}{more}")
        mm = self.matmul_side(first)
        if mm is not None:
            return self._group_matmul(k, nodes, par, mm[0], out)
        if m > 0 and op.structure == "sum":
            return self._group_sum(k, nodes, par, out)
        # Generic: one gathered array per input position, the op's own template over them.
        args: list[str] = []
        seen: dict[bytes, str] = {}
        for j in range(m):
            key = par[:, j].tobytes()
            if key not in seen:
                seen[key] = self._bind(out, f"a{k}_{j}", self.gather(par[:, j]))
            args.append(seen[key])
        t = g.templates(first)
        shape = f"({kn}, {self._width(kind)})"
        mk = f"m{k}"
        hz = self._hoist(t) if t.fwd is not None and t.chained is not None else None
        chained = t.chained
        if hz is not None:
            out.extend(
                f"    {name.format(m=mk)} = {sub.format(*args, out=h, m=mk)}"
                for name, sub in hz.assigns
            )
            expr: str | None = hz.fwd.format(*args, out=h, m=mk)
            chained = hz.chained
        else:
            expr = t.forward(args, h)
        if expr is None:
            fx = self.fallback.add(op, [g.desc(i) for i in nodes])
            expr = f"_fwd({fx}, {shape}{''.join(', ' + a for a in args)})"
        elif not any(g.kind[par[0, j]] == kind for j in t.reads):
            expr = f"_np.broadcast_to({expr}, {shape})"
        out.append(f"    {h} = {expr}")

        def backward(lines: list[str]) -> None:
            lines.append(f"    # {_comment(op.name)} x{kn} ({h})")
            lines.append(self._accumulate(h, f"d{k}"))
            if chained is None:
                bx = self.fallback.add(op, [g.desc(i) for i in nodes])
                lines.append(
                    f"    q{k} = _bwd({bx}, {shape}{''.join(', ' + a for a in [*args, h])})"
                )
            for j in range(m):
                col = par[:, j]
                if not any(g.needs[i] for i in col):
                    continue
                if chained is None:
                    term = f"d{k} * q{k}[{j}]"
                else:
                    term = chained[j].format(*args, out=h, m=mk, g=f"d{k}")
                if g.kind[col[0]] == STATIC and kind == SAMPLE:
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
        for pk in (SAMPLE, STATIC):
            cols = [j for j in range(par.shape[1]) if g.kind[par[0, j]] == pk]
            if not cols:
                continue
            sub = par[:, cols]
            if len(cols) == 1:  # one term of this kind: its values are the sum, no reduction
                terms.append(self._bind(out, f"a{k}_{pk}", self.gather(sub[:, 0])))
            else:
                terms.append(f"{self._bind(out, f'a{k}_{pk}', self.gather(sub))}.sum(1)")
            parts.append((sub, ""))
        out.append(f"    {h} = " + " + ".join(terms))

        def backward(lines: list[str]) -> None:
            lines.append(f"    # sum x{len(nodes)} ({h}): every input receives the sum's gradient")
            lines.append(self._accumulate(h, f"d{k}"))
            for sub, _ in parts:
                if not any(g.needs[i] for i in sub.ravel()):
                    continue
                src = f"d{k}"
                if g.kind[sub[0, 0]] == STATIC and kind == SAMPLE:
                    src = f"d{k}.sum(1, keepdims=True)"
                n = sub.shape[1]  # a gradient is never written into: one input may share it
                rep = src if n == 1 else f"_np.repeat({src}, {n}, 0)"
                var = self._bind(lines, f"c{k}_{g.kind[sub[0, 0]]}", rep)
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
        out_lines = [f"    {h} = {expr}"]
        if bias is not None:
            b = self._bind(out, f"b{k}", self.gather(bias))
            if skind == SAMPLE or all(g.kind[i] == STATIC for i in bias):
                # Z already has the sum's shape: add the bias into the product's fresh array
                # (the same additions, one (nodes x N) array fewer to allocate and page in)
                out_lines.append(f"    {h} += {b}")
            else:
                out_lines[0] += f" + {b}"
        out.extend(out_lines)

        def backward(lines: list[str]) -> None:
            lines.append(
                f"    # fused neurons x{len(nodes)} ({h}): dV = dZ S^T, dS = V^T dZ, db = dZ"
            )
            lines.append(self._accumulate(h, f"d{k}"))
            dz = f"d{k}"
            if skind == STATIC and kind == SAMPLE:
                dz = self._bind(lines, f"r{k}", f"d{k}.sum(1, keepdims=True)")
            if any(g.needs[i] for i in vary.ravel()):
                var = self._bind(lines, f"cv{k}", f"({dz} @ {s}.T).reshape(-1, 1)")
                self._send(lines, var, vary.ravel())
            if any(g.needs[i] for i in shared):
                var = self._bind(lines, f"cs{k}", f"{v}.T @ {dz}")
                self._send(lines, var, shared)
            if bias is not None and any(g.needs[i] for i in bias):
                bterm = f"d{k}"
                if g.kind[bias[0]] == STATIC and kind == SAMPLE:
                    bterm = self._bind(lines, f"cb{k}", f"d{k}.sum(1, keepdims=True)")
                self._send(lines, bterm, bias)

        return backward


_KINDS = (ast.Compare, ast.Call, ast.BinOp, ast.UnaryOp, ast.BoolOp)


class _Swap(ast.NodeTransformer):
    """Replaces every subexpression found in ``names`` (by its text) with that name.

    Keys are ``ast.unparse`` text, not ``ast.dump``: dump builds a recursive closure per call,
    garbage that only the cycle collector frees (a compile with it off grew without bound).
    """

    def __init__(self, names: dict[str, str]) -> None:
        self.names = names

    def visit(self, node: ast.AST) -> Any:
        name = self.names.get(ast.unparse(node)) if isinstance(node, _KINDS) else None
        if name is not None:
            return ast.copy_location(ast.Name(id=name, ctx=ast.Load()), node)
        return self.generic_visit(node)


class _Hoisted:
    """Common subexpressions of an op's forward and chain-rule templates, computed once.

    relu's ``where(x <= 0.0, 0.0, x)`` and its chain step ``where(x <= 0.0, 0.0, g)`` share
    the mask ``x <= 0.0``: the forward pass binds it to a name and the backward pass reuses it.
    A chain step that repeats the whole forward expression reads the output instead. Worked
    out once per op and number of inputs, over the placeholder names of :class:`Templates`.

    Attributes:
        assigns: ``(name pattern, expression pattern)`` for each hoisted subexpression.
        fwd: The forward pattern; ``chained``: the chain-step patterns, rewritten.
    """

    def __init__(self, t: Templates) -> None:
        ftree = ast.parse(t.fwd_text, mode="eval")
        ptrees = [ast.parse(p, mode="eval") for p in t.chained_texts]
        wanted = {ast.unparse(n) for tree in ptrees for n in ast.walk(tree.body)}
        names: dict[str, str] = {}
        assigns: list[tuple[str, str]] = []
        covered: set[int] = set()
        for node in ast.walk(ftree.body):  # breadth first: the largest shared expression wins
            if id(node) in covered or not isinstance(node, _KINDS):
                continue
            key = ast.unparse(node)
            if key not in wanted or key in names:
                continue
            if node is ftree.body:
                names[key] = "_OUT_"
            else:
                names[key] = f"_M{len(assigns)}_"
                assigns.append((names[key], ast.unparse(node)))
            covered.update(id(n) for n in ast.walk(node))
        fwd, chained = t.fwd_text, list(t.chained_texts)
        if names:
            swap = _Swap(names)
            if ast.unparse(ftree.body) not in names:
                fwd = ast.unparse(swap.visit(ftree))
            chained = [ast.unparse(swap.visit(tr)) for tr in ptrees]
        self.assigns = [(pattern(n), pattern(e)) for n, e in assigns]
        self.fwd = pattern(fwd)
        self.chained = [pattern(c) for c in chained]


def _sum_lines(name: str, terms: list[str], per_line: int = 32) -> str:
    """``name = t0 + t1 + ...`` added left to right, at most ``per_line`` terms a line (a
    parameter used by 10^5 nodes would otherwise nest too deep for Python's compiler)."""
    lines = []
    for s in range(0, len(terms), per_line):
        head = f"{name} + " if s else ""
        lines.append(f"    {name} = {head}" + " + ".join(terms[s : s + per_line]))
    return "\n".join(lines)


def table_source(table_defs: Sequence[tuple[str, IntArray]]) -> list[str]:
    """The index tables as source lines (the program binds the arrays themselves)."""
    lines = ["", "# Index tables, computed once at compile time."]
    for name, arr in table_defs:
        lines.append(
            f"{name} = _np.array({_int_list(arr.ravel())}, dtype=_np.intp)"
            + (f".reshape({arr.shape})" if arr.ndim != 1 else "")
        )
    return lines


def _int_list(a: IntArray) -> str:
    items = [str(int(x)) for x in a]
    lines = []
    for s in range(0, len(items), 24):
        lines.append(", ".join(items[s : s + 24]))
    return "[" + ",\n    ".join(lines) + "]"


# ---------------------------------------------------------------------------------------------
# Work arrays: each array statement writes into the array it made on the previous call


_UFUNC_OF_OP: dict[type[ast.operator], str] = {
    ast.Add: "add",
    ast.Sub: "subtract",
    ast.Mult: "multiply",
    ast.Div: "true_divide",
    ast.MatMult: "matmul",
}


_TAKES_OUT: dict[int, tuple[Any, bool]] = {}


def _takes_out(fn: Any) -> bool:
    """Whether ``fn`` accepts ``out=`` (a numpy ufunc, or a parameter of that name)."""
    got = _TAKES_OUT.get(id(fn))
    if got is None or got[0] is not fn:
        ok = isinstance(fn, np.ufunc)
        if not ok:
            try:
                ok = "out" in inspect.signature(fn).parameters
            except (TypeError, ValueError):
                ok = False
        if len(_TAKES_OUT) > 256:
            _TAKES_OUT.clear()
        got = _TAKES_OUT[id(fn)] = (fn, ok)
    return got[1]


class _WorkArrays(ast.NodeTransformer):
    """Rewrites ``name = a * b`` (and ``+ - / @``, unary ``-``, and calls of template
    functions that take ``out=``) at the top level of a function as
    ``name = _np.multiply(a, b, out=_w[k]); _w[k] = name``: the k-th array statement writes
    into the array it made on the previous call (``_w``, the caller's list, ``None`` at
    first). Shapes and dtypes only depend on the batch size, so the caller keeps one list
    per batch size; a fresh array of 1.28 MB costs ~300 page faults, ~400 us at 10^4 samples.
    The arithmetic is the same numpy call, so the results are bit for bit the same."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.count = 0
        #: The functions of the namespace the code runs in that take ``out=``.
        self.out_calls = {k for k in NUMPY_NAMESPACE if k in namespace and _takes_out(namespace[k])}

    def _slot(self) -> ast.Subscript:
        k = self.count
        self.count += 1
        return ast.Subscript(ast.Name("_w", ast.Load()), ast.Constant(k), ast.Load())

    def _with_out(self, e: ast.expr) -> ast.Call | None:
        out = ast.keyword("out", self._slot())
        if isinstance(e, ast.BinOp) and type(e.op) in _UFUNC_OF_OP:
            if isinstance(e.left, ast.Constant) and isinstance(e.right, ast.Constant):
                self.count -= 1
                return None
            fn = ast.Attribute(ast.Name("_np", ast.Load()), _UFUNC_OF_OP[type(e.op)], ast.Load())
            return ast.Call(fn, [e.left, e.right], [out])
        if isinstance(e, ast.UnaryOp) and isinstance(e.op, ast.USub):
            fn = ast.Attribute(ast.Name("_np", ast.Load()), "negative", ast.Load())
            return ast.Call(fn, [e.operand], [out])
        if (
            isinstance(e, ast.Call)
            and isinstance(e.func, ast.Name)
            and e.func.id in self.out_calls
            and not e.keywords
        ):
            return ast.Call(e.func, e.args, [out])
        self.count -= 1
        return None

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.count = 0
        body: list[ast.stmt] = []
        for st in node.body:
            body.append(st)
            if not (
                isinstance(st, ast.Assign)
                and len(st.targets) == 1
                and isinstance(st.targets[0], ast.Name)
            ):
                continue
            new = self._with_out(st.value)
            if new is None:
                continue
            st.value = new
            slot = new.keywords[0].value
            assert isinstance(slot, ast.Subscript)
            keep = ast.Subscript(slot.value, slot.slice, ast.Store())
            body.append(ast.Assign([keep], ast.Name(st.targets[0].id, ast.Load())))
            # locations of the statement it replaces, on the new nodes only (not
            # ast.fix_missing_locations: a recursive closure, garbage for the collector)
            assign = body[-1]
            assert isinstance(assign, ast.Assign)
            made: list[ast.AST] = [new, new.func, new.keywords[0], slot, slot.value, slot.slice]
            made += [assign, keep, assign.value]  # keep shares the slot's name and number
            if isinstance(new.func, ast.Attribute):
                made.append(new.func.value)
            for n in made:
                ast.copy_location(n, st)
        node.body = body
        node.args.args.append(ast.copy_location(ast.arg("_w"), node.args.args[-1]))
        return node


def with_work_arrays(
    lines: Sequence[str], namespace: dict[str, Any]
) -> tuple[ast.Module, dict[str, int]]:
    """The batched module with work arrays (:class:`_WorkArrays`) for running in
    ``namespace``, and how many each of its functions uses (by name)."""
    tree = ast.parse("\n".join(lines))
    counts: dict[str, int] = {}
    for fn in tree.body:
        if isinstance(fn, ast.FunctionDef):
            w = _WorkArrays(namespace)
            w.visit_FunctionDef(fn)
            counts[fn.name] = w.count
    return tree, counts
