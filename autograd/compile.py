"""Compile a recorded scalar graph into numpy code that runs it on a whole batch at once.

A graph built for ONE sample has the same structure for every sample. ``compile(root, inputs)``
reads that structure once (a :class:`~autograd.graph.Graph`) and makes two programs:

1. **Per node** (the teaching artefact, :mod:`autograd._lower`): ``per_node(X, P, seed)``,
   one line per node for the forward pass (named by the nodes' labels), then one line per
   local chain-rule step ``d_parent = d_parent + d_node * (local partial)``, per sample.
2. **Batched by level** (:mod:`autograd._batched`, what :meth:`Program.forward` and
   :meth:`Program.backward` run): all nodes of one op at one level become ONE numpy
   expression over a ``(nodes, samples)`` array, with index tables computed once.

Kinds of leaves. An ``input`` leaf is a per-sample column; a leaf that requires grad is a
parameter whose ``.data`` is read at every call (:attr:`Program.parameters`); every other leaf
(a number used as an operand) is a constant, baked into the program. A node is *static* when
it depends on no input (an L2 penalty): static nodes are computed once per call as ``(k, 1)``
arrays, so with ``reduction="mean"`` a penalty added to every sample's root enters the gradient
exactly once, as in ``mean(loss) + penalty``.

Everything is read from the op table: each op's ``code`` / ``grad_code`` templates, evaluated
with :data:`NUMPY_NAMESPACE` (derived from :data:`autograd.ops.TEMPLATE_FUNCTIONS`); an op
without templates runs its float ``forward`` / ``partials`` element by element. The chain-rule
step is :func:`autograd.ops.scaled`, as in the interpreter (PyTorch's masked rule), so the
compiled gradients equal the interpreter's, also at inf and NaN.

Safety: no user text reaches ``exec`` as code. Labels become identifiers only after reduction
to ``[A-Za-z0-9_]`` (plus a suffix that keeps names unique) and otherwise appear only in
comments reduced to printable ASCII, which no character can end early. The generated source
holds no string literals and no numbers from the graph besides indices: parameter values are
read at run time and constants are rows of the array ``C``; ``nan``/``inf`` never appear as
literals.

:attr:`Program.source` is written when first read (compiling does not need it).
"""

from __future__ import annotations

import builtins
import struct
import threading
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ._batched import Batched, table_source, with_work_arrays
from ._lower import (
    NUMPY_NAMESPACE,
    CompileError,
    Fallback,
    FloatArray,
    Lowered,
    _comment,
    describe,
    per_node_source,
)
from .context import _gc_paused
from .engine import Value
from .graph import Graph

__all__ = ["NUMPY_NAMESPACE", "CompileError", "Program", "compile"]

_describe = describe

#: Batches of at least this many samples run with work arrays (:meth:`Program._run`): below,
#: the arrays are small enough to come from the allocator's heap without page faults.
WORK_ARRAYS_FROM = 1024


class Program:
    """A graph compiled by :func:`compile`: call it on columns of per-sample inputs.

    Attributes:
        source: The generated Python (per-node section, then the batched section it runs),
            written when first read.
        inputs: The leaf Values that are per-sample columns, in column order.
        parameters: The leaves that require grad; their ``.data`` is read at each call and
            :meth:`backward` adds into their ``.grad``. Constants are not among them.
            :meth:`value_and_grad` gives the gradient as one array instead, and
            :meth:`parameter_vector` / :meth:`set_parameter_vector` read and write all
            their values at once: a training step in a few numpy operations.
    """

    def __init__(self, root: Value, inputs: Sequence[Value]) -> None:
        if not isinstance(root, Value):
            raise TypeError(f"compile: root must be a Value, got {type(root).__name__}: {root!r}")
        with _gc_paused():  # compiling makes nothing cyclic; spare the collector the graph
            lo = Lowered(Graph(root), inputs)
            fb = Fallback()
            bt = Batched(lo, fb)  # lays out the parameter vector
        self._lowered: Lowered | None = lo
        self._batched_lines: list[str] = bt.lines
        self._table_defs = bt.table_defs
        self._run_defs = bt.run_defs
        self._source: str | None = None
        self.inputs: tuple[Value, ...] = tuple(lo.inputs)
        self.parameters: tuple[Value, ...] = tuple(lo.params)
        self._pack = struct.Struct(f"={len(self.parameters)}d").pack  # '=': no padding
        self.n_nodes = lo.n
        self._seeds: dict[tuple[int, str], FloatArray] = {}
        self._fallback = fb
        self._consts = np.array(lo.consts, dtype=np.float64).reshape(-1, 1)
        ns = self._namespace()
        ns.update(bt.table_defs)
        ns.update(bt.run_defs)
        exec(builtins.compile("\n".join(bt.lines), "<autograd.compile>", "exec"), ns)
        self._work = threading.local()  # per thread: the work arrays of the last batch size
        self._work_fns: dict[str, Callable[..., Any]] | None = None  # made at the first big call
        self._n_work: dict[str, int] = {}
        # Popped, so that the namespace does not hold the functions whose globals it is (no
        # reference cycle: a dropped program is freed at once, like a graph).
        self._forward: Callable[..., FloatArray] = ns.pop("forward")
        self._backward: Callable[..., tuple[FloatArray, FloatArray]] = ns.pop("backward")
        self._per_node: Callable[..., tuple[Any, FloatArray]] | None = None
        self._per_node_text: list[str] | None = None

    def _namespace(self) -> dict[str, Any]:
        fb = self._fallback
        ns: dict[str, Any] = dict(NUMPY_NAMESPACE)
        ns.update(
            _np=np,
            _cat=np.concatenate,
            total=np.sum,
            _fwd=fb.forward,
            _bwd=fb.partials,
            C=self._consts,
        )
        return ns

    def _per_node_lines(self) -> list[str]:
        lo = self._lowered
        assert lo is not None
        lines = self._per_node_text
        if lines is None:
            lines = self._per_node_text = per_node_source(lo, self._fallback)
        return lines

    @property
    def source(self) -> str:
        """The generated Python: the per-node program, then the batched one (which runs)."""
        if self._source is None:
            lo = self._lowered
            assert lo is not None
            about = (
                f"root {lo.descs[lo.root]}: {lo.n} nodes, {len(lo.inputs)} input column(s), "
                f"{len(lo.params)} parameter(s), {len(lo.consts)} constant(s)."
            )
            head = [
                "# Generated by autograd.compile. Do not edit: compile the graph again instead.",
                "# " + _comment(about, 200),
                "# X: (inputs, N) columns; P: (parameters, 1) values read at every call;",
                "# C: (constants, 1) the graph's constants; seed: (1, N) weight of each",
                "# sample's root (1/N for a mean, 1 for a sum).",
                "",
            ]
            self._source = "\n".join(
                [
                    *head,
                    *self._per_node_lines(),
                    "",
                    "",
                    "# The same program batched by level: what prog.forward and",
                    "# prog.backward run. tK holds the values of one group of nodes (one op at",
                    "# one level), dK their gradients. From 1,024 samples on it runs with",
                    "# work arrays: each",
                    "# `name = a * b` (+ - / @, unary -, a template function taking out=)",
                    "# writes into the array it made at this thread's previous call of the",
                    "# same batch size (`_np.multiply(a, b, out=_w[k])`), not a fresh one.",
                    *self._batched_lines,
                    *table_source(self._table_defs),
                    *[
                        ln
                        for name, run in self._run_defs
                        for ln in ["", *run.source_lines(name, lo)]
                    ],
                    "",
                ]
            )
        return self._source

    def _exact(self) -> Callable[..., tuple[Any, FloatArray]]:
        """The per-node program, compiled when first needed."""
        if self._per_node is None:
            ns = self._namespace()
            src = "\n".join(self._per_node_lines())
            exec(builtins.compile(src, "<autograd.compile per node>", "exec"), ns)
            self._per_node = ns.pop("per_node")
        return self._per_node

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
        """Every parameter's ``.data``, shape (P, 1), read-only (the programs only read it)."""
        # A list comprehension's slot reads are about 3x faster than map(attrgetter) here,
        # and struct packs the floats in a third fewer instructions than np.fromiter (337).
        try:
            packed = self._pack(*[p.data for p in self.parameters])
        except struct.error:
            raise self._not_a_number() from None
        return np.frombuffer(packed).reshape(-1, 1)

    def _not_a_number(self) -> TypeError:
        for i, p in enumerate(self.parameters):
            try:
                struct.pack("d", p.data)
            except struct.error:
                why = "is too large for a float" if isinstance(p.data, int) else "is not a number"
                return TypeError(
                    f"compiled program: the .data of parameter {i}, {_describe(p)}, {why}"
                )
        return TypeError("compiled program: a parameter's .data is not a number")

    def _vector(self, vec: Any, what: str) -> FloatArray:
        """``vec`` as a float64 array of one value per parameter; else an error naming it."""
        try:
            raw = np.asarray(vec)
            if raw.dtype.kind not in "iuf":  # not text, bools, objects or complex numbers
                raise TypeError(f"elements of dtype {raw.dtype}")
            a = raw.astype(np.float64, copy=False)
        except (TypeError, ValueError) as e:
            raise TypeError(
                f"{what}: expected one number per parameter, got {vec!r}: {e}"
            ) from None
        n = len(self.parameters)
        if a.shape != (n,):
            raise ValueError(
                f"{what}: expected shape ({n},), one value per parameter, got shape {a.shape}"
            )
        return a

    def _add_grads(self, dP: FloatArray) -> None:
        for p, d in zip(self.parameters, dP.ravel().tolist()):
            try:  # free in 3.11 until raised: a grad of None is the rare case
                p.grad += d
            except TypeError:
                if p.grad is not None:
                    raise
                p.grad = d

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

    def _run(self, n: int, fn: str, *args: Any) -> Any:
        """Run the batched ``forward`` or ``backward`` on ``n`` samples: from
        :data:`WORK_ARRAYS_FROM` samples on, the version with work arrays (made on first use:
        about a compile of the code again, 1-2 ms for 10^3 nodes)."""
        if n < WORK_ARRAYS_FROM:
            return (self._forward if fn == "forward" else self._backward)(*args)
        fns = self._work_fns
        if fns is None:
            ns = self._namespace()
            ns.update(self._table_defs)
            ns.update(self._run_defs)
            tree, self._n_work = with_work_arrays(self._batched_lines, ns)
            exec(builtins.compile(tree, "<autograd.compile>", "exec"), ns)
            fns = self._work_fns = {k: ns.pop(k) for k in ("forward", "backward")}
        return fns[fn](*args, self._arrays(n, fn))

    def _arrays(self, n: int, fn: str) -> list[Any]:
        """This thread's work arrays of function ``fn`` for batch size ``n`` (a new batch
        size drops the old ones): each array statement of the batched code writes into the
        array it made at the previous call, instead of a fresh allocation."""
        w = self._work
        if getattr(w, "n", None) != n:
            w.n, w.lists = n, {}
        got: list[Any] | None = w.lists.get(fn)
        if got is None:
            got = w.lists[fn] = [None] * self._n_work[fn]
        return got

    @staticmethod
    def _root(r: Any, n: int) -> FloatArray:
        a = np.array(r, dtype=np.float64).reshape(-1)  # a copy: r is in a work array
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
            return self._root(self._run(n, "forward", X, P), n)

    def backward(self, *columns: Any, reduction: str = "mean") -> FloatArray:
        """Add d(mean or sum over samples of the root)/d(parameter) into each ``.grad``.

        Args:
            *columns: One 1-D array-like of N floats per input.
            reduction: ``"mean"`` (default) or ``"sum"`` over the samples.

        Returns:
            The root for each sample, shape (N,).
        """
        r, dP = self._gradient(columns, reduction, self._params())
        self._add_grads(dP)
        return r

    def _gradient(
        self, columns: Sequence[Any], reduction: str, P: FloatArray
    ) -> tuple[FloatArray, FloatArray]:
        """The root per sample, shape (N,), and its reduced gradient, (parameters, 1)."""
        X, n = self._columns(columns)
        seed = self._seed(n, reduction)
        with np.errstate(all="ignore"):
            r, dP = self._run(n, "backward", X, P, seed)
            if not np.isfinite(dP).all():
                # The batched program sums a static node's gradient over the samples where
                # it enters; at inf/NaN that can differ from the sum of per-sample gradients
                # (0 * inf in one sample), so the exact per-sample program decides.
                r, dP = self._exact()(X, P, seed[0])
                dP = np.asarray(dP, dtype=np.float64)
        return self._root(r, n), dP

    def value_and_grad(
        self, *columns: Any, reduction: str = "mean", params: Any = None
    ) -> tuple[FloatArray, FloatArray]:
        """The root for each sample and its gradient, touching no ``.grad`` (``jax.value_and_grad``
        of the batch; ``autograd.grad`` is the interpreted counterpart).

        Args:
            *columns: One 1-D array-like of N floats per input.
            reduction: ``"mean"`` (default) or ``"sum"`` over the samples.
            params: Parameter values to evaluate at, one per entry of :attr:`parameters`
                (shape (P,)); ``None`` (default) reads each parameter's ``.data``.

        Returns:
            ``(roots, grad)``: the root for each sample, shape (N,), and d(mean or sum of the
            roots)/d(parameter), shape (P,) in :attr:`parameters` order: exactly what
            :meth:`backward` adds into each ``.grad``.
        """
        if params is None:
            P = self._params()
        else:
            P = self._vector(params, "value_and_grad: params").reshape(-1, 1)
        r, dP = self._gradient(columns, reduction, P)
        return r, dP.reshape(-1)

    def parameter_vector(self) -> FloatArray:
        """Every parameter's ``.data`` in one new array, shape (P,), in :attr:`parameters`
        order (``torch.nn.utils.parameters_to_vector``)."""
        vec: FloatArray = self._params().reshape(-1).copy()
        return vec

    def set_parameter_vector(self, vec: Any) -> None:
        """Write ``vec[i]`` into ``parameters[i].data`` for every parameter
        (``torch.nn.utils.vector_to_parameters``). ``vec`` is checked first (shape (P,),
        numbers), so a bad one changes nothing. Each ``.data`` becomes a Python float."""
        a = self._vector(vec, "set_parameter_vector")
        for p, x in zip(self.parameters, a.tolist()):
            p.data = x

    def backward_per_node(self, *columns: Any, reduction: str = "mean") -> FloatArray:
        """As :meth:`backward`, running the readable per-node section of :attr:`source`."""
        X, n = self._columns(columns)
        seed = self._seed(n, reduction)
        P = self._params()
        with np.errstate(all="ignore"):
            r, dP = self._exact()(X, P, seed[0])
        self._add_grads(np.asarray(dP, dtype=np.float64))
        return self._root(r, n)


def compile(root: Value, inputs: Sequence[Value]) -> Program:
    """Compile the graph of ``root`` into batched numpy code.

    Args:
        root: The node to evaluate per sample (a loss for one sample, or a network output).
        inputs: Leaf Values that become per-sample columns. Every other leaf the root depends
            on is a parameter read live from ``.data`` at every call if it requires grad, else
            a constant (its value now).

    Returns:
        A :class:`Program`: ``prog.forward(*columns)``, ``prog.backward(*columns,
        reduction="mean")``, ``prog.value_and_grad(*columns)`` and ``prog.source``.

    Raises:
        TypeError: ``root`` or an input is not a Value.
        CompileError: an input is not a leaf, repeats, or an op's template is unusable; the
            message names the node.
    """
    return Program(root, inputs)
