"""A small net's graph: gradient heat map, neuron clusters, and one weight's chain rule.

Run ``python -m demos.graph [--out DIR]``. Builds a 2-3-1 ReLU MLP, a squared-error loss plus
an L2 penalty for one sample, runs ``backward()`` and renders ``out/graph.svg``: every node
shaded by |grad| (exactly-zero gradients, such as a dead ReLU's, stand out), nodes grouped by
layer and neuron, and the routes from one first-layer weight to the loss drawn bold with their
local derivatives. ``out/graph.dot`` holds the Graphviz source. ``explain_grad`` then prints
how that weight's gradient was made: delta * x from the data path (delta from the next layer by
delta_j = f'(z_j) * sum_k w_kj * delta_k) plus 2 * lambda * w from the penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd
import nn

from ._common import out_dir, parse_args, render, rule

SEED = 7
SAMPLE = [0.8, -0.4]
TARGET = 1.0
LAM = 0.01


def build(model: Any) -> autograd.Value:
    """L = (out - y)^2 + lambda * sum w^2 for the demo's one sample."""
    out = model(SAMPLE)
    loss = nn.mse_loss([out], [TARGET]) + nn.l2_penalty(model, LAM)
    loss.label = "L"
    return loss


def run(out: str | Path = "out") -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    model = nn.MLP(2, [3, 1], activation="relu", seed=SEED)
    loss = build(model)
    model.zero_grad()
    loss.backward()
    weight = model.layers[0].neurons[0].w[1]
    rule("the net and its loss")
    print(f"MLP 2-3-1 (relu), sample x = {SAMPLE}, target y = {TARGET:g}")
    print(f"L = (out - y)^2 + {LAM:g} * sum w^2 = {loss.data:.6f}")
    nodes = autograd.topological_order(loss)
    zero = sum(1 for v in nodes if v.grad == 0.0)
    print(f"{len(nodes)} nodes; {zero} with a gradient of exactly 0 (drawn apart in the heat map)")
    for j, neuron in enumerate(model.layers[0].neurons):
        z = neuron.z
        state = "dead (relu'(z) = 0)" if z.data <= 0 else "active"
        print(f"  hidden neuron {j}: z = {z.data:+.4f}, delta = {z.grad:+.6f}  {state}")

    rule("graph: heat map of |grad|, layer/neuron clusters, weight w1 of neuron 0 highlighted")
    svg = render(loss, folder / "graph.svg", highlight=weight)
    dot = autograd.render_graph(loss, folder / "graph.dot", highlight=weight)
    print(f"wrote {svg} and {dot}")

    rule("how weight.grad was made: explain_grad")
    explanation = autograd.explain_grad(weight, loss)
    text = str(explanation)
    print(text)
    print(f"weight.grad = {weight.grad:.6f}")
    return {
        "model": model,
        "loss": loss,
        "weight": weight,
        "grad": weight.grad,
        "explanation": explanation,
        "text": text,
        "svg": Path(svg),
        "dot": Path(dot),
        "zero_grad_nodes": zero,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out)


if __name__ == "__main__":
    main()
