"""Thin runs of the batched backend: long stretches of tiny levels run from tables.

A chain (``y = relu(w * y + 0.01)``, one node per level) gives the level schedule of
:mod:`autograd._batched` one group per node, and generated code costs about ten source lines
per group, which Python's ``compile`` alone makes dearer than running the graph ten times. So
consecutive tiny groups of one kind become ONE :class:`ThinRun`: a loop over precomputed
tables, one step per node, with no code written per node.

* Forward: step ``(fwd, args, out, bcast)`` computes ``v[out] = fwd(v[a] for a in args)``,
  where ``fwd`` is the op row's ``code`` template as a function over numpy rows (made once per
  op and number of inputs: :meth:`autograd._lower.Templates.functions`, evaluated with the
  numpy namespace of the batched code). ``v`` holds the run's nodes (slots ``0..R-1``, in
  schedule order), then the rows it reads from other holders (``X``, ``P``, ``C``, earlier
  groups), each read once.
* Backward: the steps in reverse, each input's chain-rule step from the row's ``grad_code``
  (:func:`autograd.ops.scaled`, the very expression the batched and per-node programs use),
  added into that input's slot. What reaches rows of other holders is returned stacked, one
  array per holder (a static holder read by sample nodes: summed over the samples, as the
  batched code does), and enters the batched program's segment sums like a group's.

Only the nodes other holders read (and the root) are copied into the run's holder ``tK``: a
chain's intermediate values stay in the run's list. A row of one node is 1-D: ``(N,)`` for a
sample node, ``(1,)`` for a static one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._lower import SAMPLE, FloatArray, IntArray, Lowered, _comment

__all__ = ["ThinRun"]

_Fwd = tuple[Callable[..., Any], tuple[int, ...], int, bool]
_Bwd = tuple[tuple[Callable[..., Any] | None, ...], tuple[int, ...], int]


class ThinRun:
    """One run of thin levels: tables built in the constructor, run by :meth:`forward` and
    :meth:`backward` (called from the generated batched code).

    Attributes:
        nodes: The run's node indices, in execution order (slot = position).
        kind: ``STATIC`` or ``SAMPLE`` (a run holds one kind).
        exported: The slots other holders read (and the root), in order: row r of the run's
            holder is slot ``exported[r]``.
        holders: The names of the holders the run reads, in the order :meth:`forward` takes
            them.
        sends: Per holder that receives gradient from the run: ``(name, rows)``, the rows of
            that holder, in the order of the arrays :meth:`backward` returns.
    """

    def __init__(
        self,
        g: Lowered,
        nodes: list[int],
        exported: Sequence[int],
        where: Callable[[int], tuple[str, int]],
    ) -> None:
        self.nodes = nodes
        self.kind = kind = g.kind[nodes[0]]
        r_own = len(nodes)
        slot = dict(zip(nodes, range(r_own)))
        self.exported = [slot[i] for i in exported]
        ext: list[int] = []
        parents, kinds, needs, ops = g.parents, g.kind, g.needs, g.ops
        templates = g.templates
        made: dict[tuple[Any, int], tuple[Callable[..., Any], list[Any], tuple[int, ...]]] = {}
        picks: dict[tuple[Any, ...], tuple[Callable[..., Any] | None, ...]] = {}
        fsteps: list[_Fwd] = []
        bsteps: list[_Bwd] = []
        get = slot.get
        need = needs.__getitem__
        for s, i in enumerate(nodes):
            ps = parents[i]
            args: tuple[int, ...] = tuple(map(get, ps))  # type: ignore[arg-type]
            if None in args:  # rows of other holders: a slot each, after the run's own
                ia = []
                for p in ps:
                    q = get(p)
                    if q is None:
                        q = slot[p] = r_own + len(ext)
                        ext.append(p)
                    ia.append(q)
                args = tuple(ia)
            key = (ops[i], len(ps))  # rows compare by identity
            fns_of = made.get(key)
            if fns_of is None:
                t = templates(i)
                fns_of = made[key] = (*t.functions(), tuple(sorted(t.reads)))
            fwd, chains, pos = fns_of
            # broadcast a result that reads no input of the node's own kind (a constant)
            bcast = not pos or kinds[ps[pos[0]]] != kind
            if bcast:
                bcast = all(kinds[ps[j]] != kind for j in pos)
            fsteps.append((fwd, args, s, bcast))
            if needs[i]:
                mask = (key, *map(need, ps))
                fns = picks.get(mask)
                if fns is None:
                    fns = picks[mask] = tuple(
                        [c if nd else None for c, nd in zip(chains, mask[1:])]
                    )
                bsteps.append((fns, args, s))
        bsteps.reverse()
        self.fsteps, self.bsteps = fsteps, bsteps
        hnames: dict[str, int] = {}
        reads: list[tuple[int, int]] = []
        out: dict[str, tuple[list[int], list[int], bool]] = {}
        for e, p in enumerate(ext):
            h, r = where(p)
            hi = hnames.setdefault(h, len(hnames))
            reads.append((hi, r))
            if needs[p]:  # a static row read by sample nodes gets the sum over the samples
                got = out.setdefault(h, ([], [], kind == SAMPLE and kinds[p] != SAMPLE))
                got[0].append(r_own + e)
                got[1].append(r)
        self.holders = list(hnames)
        self.reads = reads
        self.n_slots = r_own + len(ext)
        self.sends: list[tuple[str, IntArray]] = [
            (h, np.array(rows, dtype=np.intp)) for h, (_, rows, _) in out.items()
        ]
        self._send_slots = [(slots, reduce) for slots, _, reduce in out.values()]

    # -- run time ------------------------------------------------------------------------------

    def forward(self, n: int, hs: Sequence[FloatArray]) -> tuple[FloatArray, list[Any]]:
        """The run's values: its holder (exported rows, stacked) and the slot list."""
        v: list[Any] = [None] * (self.n_slots - len(self.reads))
        v += [hs[h][r] for h, r in self.reads]
        shape = (n,) if self.kind == SAMPLE else (1,)
        bcast = np.broadcast_to
        for fwd, args, o, bc in self.fsteps:
            r = fwd(*[v[a] for a in args])
            v[o] = bcast(r, shape) if bc else r
        return np.array([v[s] for s in self.exported]), v

    def backward(self, v: list[Any], d: FloatArray | None) -> list[FloatArray]:
        """Chain rule through the run; ``d``: the gradient of the run's holder rows. Returns
        what reaches each holder of :attr:`sends`, stacked in the order of its rows."""
        dv: list[Any] = [None] * len(v)
        if d is not None:
            for r, s in enumerate(self.exported):
                dv[s] = d[r]
        for fns, args, o in self.bsteps:
            g = dv[o]
            if g is None:  # no gradient reached it (never, for a node that needs one)
                continue
            xs = [v[a] for a in args]
            out = v[o]
            for fn, q in zip(fns, args):
                if fn is not None:
                    c = fn(g, *xs, out)
                    old = dv[q]
                    dv[q] = c if old is None else old + c
        zero = np.zeros_like(v[self.exported[0]])
        res = []
        for slots, reduce in self._send_slots:
            a = np.array([zero if dv[q] is None else dv[q] for q in slots])
            res.append(a.sum(1, keepdims=True) if reduce else a)
        return res

    # -- source ----------------------------------------------------------------------------------

    def source_lines(self, name: str, g: Lowered) -> list[str]:
        """The run's tables as comment lines (for ``Program.source``)."""
        kind = "sample" if self.kind == SAMPLE else "static"
        lines = [
            f"# {name}: a thin run of {len(self.nodes)} {kind} node(s), run step by step from",
            "# tables (autograd._thin.ThinRun): v[slot] = op(v[slots of its inputs]); slots",
            f"# {len(self.nodes)}.. are rows read from {', '.join(self.holders)}:",
        ]
        for q, (h, r) in enumerate(self.reads):
            lines.append(f"#   v[{len(self.nodes) + q}] = {self.holders[h]}[{r}]")
        for s, i in enumerate(self.nodes):
            args = ", ".join(f"v[{a}]" for a in self.fsteps[s][1])
            lines.append(f"#   v[{s}] = {_comment(g.op(i).name, 20)}({args})")
        rows = ", ".join(f"v[{s}]" for s in self.exported)
        lines.append(f"# {name} holder rows: {_comment(rows, 2000)}")
        return lines
