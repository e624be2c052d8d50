"""The deep chain y <- relu(0.9999 y + 0.01), and what it costs per op node.

Counting: one step makes three op nodes (mul, add, relu); constants are not counted (deltagrad
keeps them as bare floats inside its nodes, micrograd makes a Value for each, PyTorch makes
none). "Per node" always means per op node: time or bytes divided by 3 * steps.

Each ``build_<engine>(steps)`` returns ``(forward_s, run_backward)`` where ``run_backward()``
returns ``(backward_s, y, dy/dx)`` so callers can check the result before its time counts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .timing import clock

__all__ = ["ENGINES", "NODES_PER_STEP", "reference"]

NODES_PER_STEP = 3
X0 = 0.5
SCALE = 0.9999
SHIFT = 0.01

Backward = Callable[[], tuple[float, float, float]]


def reference(steps: int) -> tuple[float, float]:
    """y after ``steps`` steps from x = 0.5 and dy/dx, by hand (relu never clips here)."""
    y = X0
    d = 1.0
    for _ in range(steps):
        z = SCALE * y + SHIFT
        if z > 0.0:
            y = z
            d *= SCALE
        else:
            y = 0.0
            d = 0.0
    return y, d


def _forward(value_cls: Any, steps: int) -> tuple[float, Any, Any]:
    """Build the chain from ``value_cls(X0)``: (forward seconds, x, y)."""
    x = value_cls(X0)
    t = clock()
    y = x
    for _ in range(steps):
        y = (SCALE * y + SHIFT).relu()
    return clock() - t, x, y


def build_deltagrad(steps: int) -> tuple[float, Backward, Any]:
    from autograd import Value

    fwd, x, y = _forward(Value, steps)

    def backward() -> tuple[float, float, float]:
        x.grad = 0.0
        t = clock()
        y.backward()
        return clock() - t, y.data, x.grad

    return fwd, backward, y


def build_micrograd(steps: int) -> tuple[float, Backward, Any]:
    from micrograd.engine import Value as MValue

    fwd, x, y = _forward(MValue, steps)

    def backward() -> tuple[float, float, float]:
        # micrograd's backward adds into every node's grad: zero them all (untimed) so that a
        # repeated backward gives the same result, as deltagrad's does
        stack, seen = [y], set()
        while stack:
            v = stack.pop()
            if v not in seen:
                seen.add(v)
                v.grad = 0
                stack.extend(v._prev)
        t = clock()
        y.backward()
        return clock() - t, y.data, x.grad

    return fwd, backward, y


def build_torch_scalar(steps: int) -> tuple[float, Backward, Any]:
    import torch

    x = torch.tensor(X0, dtype=torch.float64, requires_grad=True)
    t = clock()
    y = x
    for _ in range(steps):
        y = torch.relu(SCALE * y + SHIFT)
    fwd = clock() - t

    def backward() -> tuple[float, float, float]:
        x.grad = None
        t = clock()
        y.backward(retain_graph=True)
        dt = clock() - t
        g = x.grad
        return dt, float(y.item()), float(g.item()) if g is not None else 0.0

    return fwd, backward, y


def build_python(steps: int) -> tuple[float, Backward, Any]:
    """Hand-written: forward keeps the pre-activations, backward walks them in reverse."""
    t = clock()
    zs = [0.0] * steps
    y = X0
    for i in range(steps):
        z = SCALE * y + SHIFT
        zs[i] = z
        y = z if z > 0.0 else 0.0
    fwd = clock() - t
    out = y

    def backward() -> tuple[float, float, float]:
        t = clock()
        g = 1.0
        for z in reversed(zs):
            g = g * SCALE if z > 0.0 else 0.0
        return clock() - t, out, g

    return fwd, backward, zs


ENGINES: dict[str, Callable[[int], tuple[float, Backward, Any]]] = {
    "deltagrad": build_deltagrad,
    "micrograd": build_micrograd,
    "torch-scalar": build_torch_scalar,
    "python": build_python,
}
