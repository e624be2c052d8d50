"""One neuron, by hand and by backward(): z = w.x + b, a = f(z), delta, dL/dw_i = delta * x_i.

Run ``python -m demos.neuron [--out DIR]``. It prints every number of the chain rule for a
sigmoid neuron with squared-error loss L = (a - y)^2 / 2, checks each dL/dw_i = delta * x_i
against what ``backward()`` put in ``w_i.grad``, takes one gradient-descent step
dw_i = -eta * delta * x_i and shows the loss before and after, and renders the graph with the
path of w0 highlighted to ``out/neuron.svg``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd
import nn

from ._common import out_dir, parse_args, render, rule

# The example: three inputs, one target. Numbers chosen so that every term is visible.
X = [1.0, -2.0, 0.5]
W = [0.4, 0.3, -0.6]
B = 0.1
Y = 1.0
ETA = 1.0


def _loss(a: autograd.Value, y: float) -> autograd.Value:
    """L = (a - y)^2 / 2, so dL/da = a - y."""
    err = a - y
    err.label = "a - y"
    loss = err**2 / 2
    loss.label = "L"
    return loss


def run(out: str | Path = "out") -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    neuron = nn.Neuron(len(X), activation="sigmoid")
    for wi, v in zip(neuron.w, W):
        wi.data = v
    neuron.b.data = B

    rule("the neuron: inputs x, weights w, bias b, target y")
    print(f"x = {X}   w = {W}   b = {B}   y = {Y}")
    rule("forward: z = w . x + b,  a = sigmoid(z)")
    a = neuron(X)
    z = neuron.z
    terms = " + ".join(f"({w:g})({x:g})" for w, x in zip(W, X))
    print(f"z = {terms} + ({B:g}) = {z.data:.6f}")
    print(f"a = sigmoid(z) = 1 / (1 + e^-z) = {a.data:.6f}")
    loss = _loss(a, Y)
    print(f"L = (a - y)^2 / 2 = ({a.data:.6f} - {Y:g})^2 / 2 = {loss.data:.6f}")

    rule("backward by hand: delta = dL/da * da/dz")
    dl_da = a.data - Y
    da_dz = a.data * (1.0 - a.data)
    delta = dl_da * da_dz
    print(f"dL/da = a - y = {dl_da:.6f}")
    print(f"da/dz = a (1 - a) = {da_dz:.6f}")
    print(f"delta = dL/da * da/dz = {dl_da:.6f} * {da_dz:.6f} = {delta:.6f}")

    neuron.zero_grad()
    loss.backward()
    print(f"backward(): z.grad = {z.grad:.6f}  (delta is the gradient at z)")

    rule("every weight: dL/dw_i = delta * x_i, checked against backward()")
    by_hand = [delta * x for x in X]
    grads = [w.grad for w in neuron.w]
    for i, (x, h, g) in enumerate(zip(X, by_hand, grads)):
        ok = "ok" if math.isclose(h, g, rel_tol=1e-12, abs_tol=1e-15) else "MISMATCH"
        print(f"dL/dw{i} = delta * x{i} = ({delta:.6f}) * ({x:g}) = {h:+.6f}", end="")
        print(f"    backward(): {g:+.6f}  {ok}")
    ok_b = "ok" if math.isclose(delta, neuron.b.grad, rel_tol=1e-12) else "MISMATCH"
    b_grad = neuron.b.grad
    print(f"dL/db  = delta * 1 = {delta:+.6f}    backward(): {b_grad:+.6f}  {ok_b}")

    rule(f"one step of gradient descent: dw_i = -eta * delta * x_i  (eta = {ETA:g})")
    steps = [-ETA * delta * x for x in X]
    before = [w.data for w in neuron.w]
    for i, (w, d) in enumerate(zip(neuron.w, steps)):
        w.data = w.data + d
        print(
            f"w{i}: {before[i]:+.6f}  + (-{ETA:g} * ({delta:.6f}) * ({X[i]:g}) = {d:+.6f})"
            f"  ->  {w.data:+.6f}"
        )
    b_before = neuron.b.data
    neuron.b.data = b_before - ETA * delta
    db = -ETA * delta
    print(
        f"b : {b_before:+.6f}  + (-{ETA:g} * ({delta:.6f}) = {db:+.6f})  ->  {neuron.b.data:+.6f}"
    )
    with autograd.no_grad():
        loss_after = _loss(neuron(X), Y).data
    drop = loss.data - loss_after
    print(f"loss before {loss.data:.6f}  ->  after {loss_after:.6f}  (down by {drop:.6f})")

    rule("the graph, with the path from w0 to L highlighted")
    # Rebuild the graph at the original weights so the picture matches the numbers above.
    for wi, v in zip(neuron.w, W):
        wi.data = v
    neuron.b.data = B
    neuron.zero_grad()
    shown = _loss(neuron(X), Y)
    shown.backward()
    graph = render(shown, folder / "neuron.svg", highlight=neuron.w[0])
    print(f"wrote {graph}")
    return {
        "x": list(X),
        "w": list(W),
        "b": B,
        "y": Y,
        "eta": ETA,
        "z": z.data,
        "a": a.data,
        "loss": loss.data,
        "dL_da": dl_da,
        "da_dz": da_dz,
        "delta": delta,
        "z_grad": z.grad,
        "by_hand": by_hand,
        "grads": grads,
        "b_grad": b_grad,
        "w_after": [b + d for b, d in zip(before, steps)],
        "loss_after": loss_after,
        "graph": graph,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out)


if __name__ == "__main__":
    main()
