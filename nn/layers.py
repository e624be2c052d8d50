"""``Neuron``, ``Layer`` and ``MLP``: micrograd's three classes, with delta in plain sight.

A neuron computes z = Σ_i w_i x_i + b as one fused ``dot`` node and a = f(z) on top of it.
After a call, ``neuron.x``, ``neuron.z`` and ``neuron.a`` hold that call's nodes, so after
``backward()``::

    neuron.z.grad                    # delta = dL/dz
    neuron.w[i].grad == neuron.z.grad * neuron.x[i].data     # dL/dw_i = delta * x_i
    neuron.b.grad == neuron.z.grad                           # dL/db = delta

(for a neuron used once per graph; with several calls the gradients add up).

Scopes: every node is tagged with its module path, at construction for the parameters and at
each call for the nodes the call makes, so a renderer can draw one box per neuron and per layer.
The path is the one ``named_parameters`` uses: weight ``w[1]`` of neuron 2 of layer 0 has scope
``layers.0.neurons.2`` and the name ``layers.0.neurons.2.w.1`` (scope, then its own name).
Labels: weights ``w0 w1 ..``, bias ``b``, inputs made from numbers
``x0 x1 ..``, pre-activation ``z``, activation output ``a`` (a linear neuron's output is ``z``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Iterable, Sequence, Sized
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import numpy as np

from autograd import Value, dot, scope

from . import init as _init
from ._validate import positive_int
from .module import Module

__all__ = ["ACTIVATIONS", "MLP", "Layer", "Neuron"]

Seed = int | np.random.SeedSequence | None
Input = Value | float | int

#: Activation name -> the Value method applied to z (``None``: linear, the output is z).
ACTIVATIONS: dict[str, Callable[[Value], Value] | None] = {
    "tanh": Value.tanh,
    "relu": Value.relu,
    "sigmoid": Value.sigmoid,
    "leaky_relu": Value.leaky_relu,
    "linear": None,
}

_XLABELS = [f"x{i}" for i in range(256)]


def _activation(name: object) -> Callable[[Value], Value] | None:
    if not isinstance(name, str) or name not in ACTIVATIONS:
        known = ", ".join(repr(k) for k in ACTIVATIONS)
        raise ValueError(f"unknown activation {name!r}; expected one of {known}")
    return ACTIVATIONS[name]


def _scope(name: str) -> AbstractContextManager[Any]:
    """``autograd.scope(name)``, or no scope for the root module's default name ``""``."""
    return scope(name) if name else nullcontext()


def _check_name(name: object, who: str) -> str:
    if not isinstance(name, str):
        raise TypeError(f"{who}: name must be a str, got {type(name).__name__}: {name!r}")
    return name


def _seed_sequence(seed: object, who: str) -> np.random.SeedSequence:
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if seed is None:
        return np.random.SeedSequence()
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"{who}: seed must be None or an int >= 0, got {seed!r}")
    return np.random.SeedSequence(int(seed))


def _inputs(x: object, nin: int, who: str) -> list[Value]:
    """``x`` as a list of ``nin`` Values; numbers become leaves labelled ``x0 x1 ..``."""
    if isinstance(x, (Value, numbers.Real)):
        x = [x]
    if not isinstance(x, Sized) or not isinstance(x, Iterable):
        raise TypeError(
            f"{who}: expected a list of {nin} numbers or Values, got {type(x).__name__}"
        )
    n = len(x)
    if n != nin:
        raise ValueError(f"{who}: expected {nin} input(s), got {n}")
    out: list[Value] = []
    v: object
    for i, v in enumerate(x):
        if type(v) is Value:
            out.append(v)
        elif isinstance(v, numbers.Real):
            out.append(Value(float(v), _XLABELS[i] if i < 256 else f"x{i}"))
        elif isinstance(v, Value):
            out.append(v)
        else:
            raise TypeError(
                f"{who}: input {i} must be a number or a Value, got {type(v).__name__}: {v!r}"
            )
    return out


class Neuron(Module):
    """One neuron: z = Σ_i w_i x_i + b (one ``dot`` node), a = f(z).

    Args:
        nin: Number of inputs.
        activation: ``"tanh"``, ``"relu"``, ``"sigmoid"``, ``"linear"`` or ``"leaky_relu"``
            (slope 0.01).
        init: A scheme name from :mod:`nn.init` or a callable
            ``(fan_in, fan_out, size, rng) -> floats``. The bias starts at 0.
        seed: ``None`` (fresh randomness), an int, or a ``numpy.random.SeedSequence``.
        name: Scope of this neuron: ``""`` (none) for a neuron on its own; a ``Layer`` names
            its neurons ``neurons.0 neurons.1 ..``, as ``named_parameters`` does.
        fan_out: The fan-out the init scheme sees (a ``Layer`` passes its ``nout``).

    Attributes:
        w: The weights, Values labelled ``w0 w1 ..``.
        b: The bias, a Value labelled ``b``.
        x, z, a: The inputs (Values), the ``dot`` node z and the output of the latest call.
    """

    def __init__(
        self,
        nin: int,
        activation: str = "tanh",
        init: str | _init.InitFn = "xavier_uniform",
        seed: Seed = None,
        *,
        name: str = "",
        fan_out: int = 1,
    ) -> None:
        self.nin = positive_int(nin, "Neuron: nin")
        fan_out = positive_int(fan_out, "Neuron: fan_out")
        self._act = _activation(activation)
        self.activation = activation
        self.name = _check_name(name, "Neuron")
        ws = _draw(_init.get(init), self.nin, fan_out, seed, "Neuron")
        with _scope(name):
            self.w: list[Value] = [Value(x, f"w{i}") for i, x in enumerate(ws)]
            self.b: Value = Value(0.0, "b")
        self._x: list[Value] | None = None
        self._z: Value | None = None
        self._a: Value | None = None

    def __call__(self, x: Sequence[Input] | Input) -> Value:
        """a = f(Σ_i w_i x_i + b) for one input vector (numbers or Values)."""
        return self._forward(_inputs(x, self.nin, "Neuron"))

    def _forward(self, x: list[Value]) -> Value:
        # The hot path of training: x is already a checked list of Values.
        with _scope(self.name):
            z = dot(self.w, x, self.b)
            z.label = "z"
            act = self._act
            if act is None:
                a = z
            else:
                a = act(z)
                a.label = "a"
        self._x = x
        self._z = z
        self._a = a
        return a

    @property
    def x(self) -> list[Value]:
        """The inputs of the latest call, as Values."""
        if self._x is None:
            raise AttributeError("Neuron.x: the neuron has not been called yet")
        return self._x

    @property
    def z(self) -> Value:
        """The pre-activation node of the latest call; after backward its grad is delta."""
        if self._z is None:
            raise AttributeError("Neuron.z: the neuron has not been called yet")
        return self._z

    @property
    def a(self) -> Value:
        """The output of the latest call (``z`` itself for a linear neuron)."""
        if self._a is None:
            raise AttributeError("Neuron.a: the neuron has not been called yet")
        return self._a

    def local_parameters(self) -> list[tuple[str, Value, bool]]:
        out: list[tuple[str, Value, bool]] = [(f"w.{i}", w, False) for i, w in enumerate(self.w)]
        out.append(("b", self.b, True))
        return out

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]

    def architecture(self) -> dict[str, Any]:
        return {"type": "Neuron", "nin": self.nin, "activation": self.activation}

    def __repr__(self) -> str:
        return f"Neuron(nin={self.nin}, activation={self.activation!r})"


def _draw(fn: _init.InitFn, nin: int, fan_out: int, seed: object, who: str) -> list[float]:
    rng = np.random.default_rng(_seed_sequence(seed, who))
    vals = fn(nin, fan_out, nin, rng)
    try:
        ws = [float(v) for v in vals]
    except (TypeError, ValueError):
        raise TypeError(f"{who}: init returned non-numbers: {vals!r}") from None
    if len(ws) != nin:
        raise ValueError(f"{who}: init returned {len(ws)} weights for {nin} inputs")
    if not all(np.isfinite(ws)):
        raise ValueError(f"{who}: init returned non-finite weights: {ws!r}")
    return ws


class Layer(Module):
    """``nout`` neurons that share one input vector.

    Args:
        nin: Inputs of each neuron.
        nout: Number of neurons.
        activation: Activation of every neuron (see :class:`Neuron`).
        init: Init scheme (see :class:`Neuron`); fan_in = nin, fan_out = nout.
        seed: ``None``, an int or a ``SeedSequence``; each neuron gets a spawned child seed.
        name: Scope of this layer: ``""`` (none) for a layer on its own; an ``MLP`` names
            its layers ``layers.0 layers.1 ..``, as ``named_parameters`` does.

    Attributes:
        neurons: The neurons, in scopes ``neurons.0 neurons.1 ..`` inside the layer's.
    """

    def __init__(
        self,
        nin: int,
        nout: int,
        activation: str = "tanh",
        init: str | _init.InitFn = "xavier_uniform",
        seed: Seed = None,
        *,
        name: str = "",
    ) -> None:
        self.nin = positive_int(nin, "Layer: nin")
        self.nout = positive_int(nout, "Layer: nout")
        _activation(activation)
        fn = _init.get(init)
        self.activation = activation
        self.name = _check_name(name, "Layer")
        seeds = _seed_sequence(seed, "Layer").spawn(self.nout)
        with _scope(self.name):
            self.neurons = [
                Neuron(self.nin, activation, fn, seeds[j], name=f"neurons.{j}", fan_out=self.nout)
                for j in range(self.nout)
            ]

    def __call__(self, x: Sequence[Input] | Input) -> Value | list[Value]:
        """Every neuron on ``x``: a list of Values, or one Value when ``nout == 1``."""
        with _scope(self.name):
            xs = _inputs(x, self.nin, "Layer")
            out = [n._forward(xs) for n in self.neurons]
        return out[0] if len(out) == 1 else out

    def _forward(self, x: list[Value]) -> list[Value]:
        with _scope(self.name):
            return [n._forward(x) for n in self.neurons]

    def named_children(self) -> list[tuple[str, Module]]:
        return [(f"neurons.{j}", n) for j, n in enumerate(self.neurons)]

    def parameters(self) -> list[Value]:
        out: list[Value] = []
        for n in self.neurons:
            out.extend(n.w)
            out.append(n.b)
        return out

    def architecture(self) -> dict[str, Any]:
        return {
            "type": "Layer",
            "nin": self.nin,
            "nout": self.nout,
            "activation": self.activation,
        }

    def __repr__(self) -> str:
        return f"Layer(nin={self.nin}, nout={self.nout}, activation={self.activation!r})"


class MLP(Module):
    """A multi-layer perceptron: layers of sizes ``nouts`` after ``nin`` inputs.

    Args:
        nin: Number of inputs.
        nouts: Neurons per layer, e.g. ``[16, 16, 1]``.
        activation: Activation of the hidden layers.
        output_activation: Activation of the last layer (``"linear"``: raw scores).
        init: Init scheme for every layer (see :class:`Neuron`).
        seed: ``None``, an int or a ``SeedSequence``; each layer gets a spawned child seed, so
            a seed reproduces the whole network.
        name: Scope of the whole network: ``""`` (none), so that a parameter's scope is its
            ``named_parameters`` path; give the attribute name under which a parent module
            holds the network (``name="encoder"``) to keep that equality in the parent.

    Attributes:
        layers: The layers, in scopes ``layers.0 layers.1 ..`` inside the network's.
    """

    def __init__(
        self,
        nin: int,
        nouts: Sequence[int],
        activation: str = "tanh",
        output_activation: str = "linear",
        init: str | _init.InitFn = "xavier_uniform",
        seed: Seed = None,
        *,
        name: str = "",
    ) -> None:
        self.nin = positive_int(nin, "MLP: nin")
        if isinstance(nouts, (str, bytes)) or not isinstance(nouts, Sequence) or not nouts:
            raise ValueError(f"MLP: nouts must be a non-empty list of ints, got {nouts!r}")
        self.nouts = [positive_int(n, f"MLP: nouts[{i}]") for i, n in enumerate(nouts)]
        _activation(activation)
        _activation(output_activation)
        fn = _init.get(init)
        self.activation = activation
        self.output_activation = output_activation
        self.name = _check_name(name, "MLP")
        sizes = [self.nin, *self.nouts]
        last = len(self.nouts) - 1
        seeds = _seed_sequence(seed, "MLP").spawn(len(self.nouts))
        with _scope(self.name):
            self.layers = [
                Layer(
                    sizes[i],
                    sizes[i + 1],
                    activation if i < last else output_activation,
                    fn,
                    seeds[i],
                    name=f"layers.{i}",
                )
                for i in range(len(self.nouts))
            ]

    def __call__(self, x: Sequence[Input] | Input) -> Value | list[Value]:
        """The network on one input vector: a list of Values, or one Value for one output."""
        with _scope(self.name):
            xs = _inputs(x, self.nin, "MLP")
            for layer in self.layers:
                xs = layer._forward(xs)
        return xs[0] if len(xs) == 1 else xs

    def named_children(self) -> list[tuple[str, Module]]:
        return [(f"layers.{i}", layer) for i, layer in enumerate(self.layers)]

    def parameters(self) -> list[Value]:
        out: list[Value] = []
        for layer in self.layers:
            out.extend(layer.parameters())
        return out

    def architecture(self) -> dict[str, Any]:
        return {
            "type": "MLP",
            "nin": self.nin,
            "nouts": list(self.nouts),
            "activation": self.activation,
            "output_activation": self.output_activation,
        }

    def to_torch(self) -> Any:
        """This network as a float64 ``torch.nn.Sequential`` (see :mod:`nn.torch_bridge`)."""
        from .torch_bridge import to_torch

        return to_torch(self)

    @classmethod
    def from_torch(cls, source: Any, **options: Any) -> MLP:
        """An MLP from a torch module or state dict (see :func:`nn.torch_bridge.from_torch`)."""
        from .torch_bridge import from_torch

        return from_torch(source, **options)

    def __repr__(self) -> str:
        return (
            f"MLP(nin={self.nin}, nouts={self.nouts}, activation={self.activation!r}, "
            f"output_activation={self.output_activation!r})"
        )
