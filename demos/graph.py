"""A small net's graph: gradient heat map, neuron clusters, and one weight's chain rule.

Run ``python -m demos.graph [--out DIR]``. Two graphs, each after ``backward()``:

1. The README's picture: a 2-3-1 net built by hand from ``autograd`` (inputs x = (1, -2); hidden
   neurons tanh, tanh and a ReLU that is dead at this input; a tanh output; loss (y - 1)^2),
   rendered with w0 of ``mlp.layer0.neuron1`` highlighted to ``out/readme_graph.svg`` (and its
   Graphviz source ``out/readme_graph.dot``, which is ``docs/graph.dot`` byte for byte). The
   demo prints the caption's numbers: dL/dw = delta * x = (dL/da * da/dz) * x.
2. A 2-3-1 ReLU ``nn.MLP`` with a squared-error loss plus an L2 penalty for one sample,
   rendered to ``out/graph.svg``: every node shaded by |grad| (exactly-zero gradients, such as a
   dead ReLU's, stand out), nodes grouped by layer and neuron, and the routes from one
   first-layer weight to the loss drawn bold with their local derivatives. ``out/graph.dot``
   holds the Graphviz source and ``out/graph.html`` the explorer (``autograd.explore``): open
   it in a browser and press Step to walk the backward pass node by node. ``explain_grad``
   then prints how that weight's gradient was made: delta * x from the data path (delta from
   the next layer by
   delta_j = f'(z_j) * sum_k w_kj * delta_k) plus 2 * lambda * w from the penalty.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple

import autograd
import autograd as ag
import nn
from autograd import Value

from ._common import out_dir, parse_args, render, rule

SEED = 7
SAMPLE = [0.8, -0.4]
TARGET = 1.0
LAM = 0.01


# ---------------------------------------------------------------------------------------------
# Part 1: the README's picture

# (weights, bias, activation) of the hidden neurons, then the output neuron's weights and bias.
HIDDEN = [([0.6, 0.2], 0.1, "tanh"), ([-0.5, 0.4], 0.2, "tanh"), ([0.3, 0.9], -0.3, "relu")]
OUTPUT = ([0.8, -0.7, 0.5], 0.1)


class ReadmeNet(NamedTuple):
    """The README net after ``backward()``: its loss and the highlighted weight's neuron."""

    loss: Value
    weight: Value  # w0 of mlp.layer0.neuron1
    x: Value  # the input that weight multiplies (x0)
    z: Value  # that neuron's z = sum w*x + b; z.grad is its delta
    a: Value  # that neuron's a = tanh(z)


def build_readme_net() -> ReadmeNet:
    """The README's 2-3-1 net, by hand, with the nesting and labels ``nn.MLP`` gives its nodes
    (``nn`` names the scopes by parameter path, ``layers.0.neurons.1``; these are the user's).

    L = (tanh(sum_j v_j h_j + c) - 1)^2 with h = (tanh, tanh, relu)(W x + b) and x = (1, -2);
    the ReLU neuron has z = -1.8, so it is dead. The body is the README's code snippet.
    """
    with ag.scope("mlp"):  # scopes become nested clusters: mlp > layer0 > neuron1
        x = [Value(1.0, "x0"), Value(-2.0, "x1")]
        hidden = []
        with ag.scope("layer0"):
            for j, (ws, b, f) in enumerate(HIDDEN):  # (weights, bias, activation)
                with ag.scope(f"neuron{j}"):
                    w = [Value(v, f"w{i}") for i, v in enumerate(ws)]
                    z = ag.dot(w, x, Value(b, "b"))  # z = Σ w·x + b, one node
                    z.label = "z"
                    a = getattr(z, f)()
                    a.label = "a"
                hidden.append((w, z, a))
        with ag.scope("layer1"), ag.scope("neuron0"):
            w = [Value(v, f"w{i}") for i, v in enumerate(OUTPUT[0])]
            z = ag.dot(w, [a for _, _, a in hidden], Value(OUTPUT[1], "b"))
            z.label = "z"
            y = z.tanh()
            y.label = "y"
    loss = (y - Value(1.0, "target")) ** 2
    loss.label = "L"
    loss.backward()
    weights, z1, a1 = hidden[1]
    return ReadmeNet(loss, weights[0], x[0], z1, a1)


def readme_graph(folder: Path) -> dict[str, Any]:
    """Render the README net to ``readme_graph.svg`` and ``.dot``; print the caption's numbers."""
    net = build_readme_net()
    w, x, z, a = net.weight, net.x, net.z, net.a
    rule("README picture: a 2-3-1 net by hand, w0 of mlp.layer0.neuron1 highlighted")
    print("x = (1, -2); hidden tanh, tanh, relu; output tanh; L = (y - 1)^2")
    print(f"L = {net.loss.data:.6f}")
    # da/dz is the activation's local derivative, read from its op-table row as the drawing
    # does: for tanh it is 1 - a^2.
    info = a.op_info
    if info is None:  # a = tanh(z) is made by an op; a leaf here means the net was changed
        raise RuntimeError(f"README net: expected a = tanh(z), got the leaf {a!r}")
    da_dz = info.partials(z.data, a.data)[0]
    dl_da = a.grad
    delta = dl_da * da_dz
    by_hand = delta * x.data

    def f(v: float) -> str:  # a factor as the caption writes it: negatives in parentheses
        return f"({v:.4f})" if v < 0 else f"{v:.4f}"

    print(
        f"dL/d{w.label} = delta * {x.label} = (dL/da * da/dz) * {x.label} = "
        f"({f(dl_da)} * {f(da_dz)}) * {f(x.data)} = {by_hand:.4f}"
    )
    print(f"  delta = dL/dz = {delta:.6f} (z.grad = {z.grad:.6f}); w.grad = {w.grad:.6f}")
    dead = [
        v
        for v in autograd.topological_order(net.loss)
        if v.label == "z" and v.data <= 0 and v.grad == 0.0
    ]
    for v in dead:
        print(f"  dead relu in {v.scope}: z = {v.data:+.4f}, its w, b and z have grad 0")
    svg = render(net.loss, folder / "readme_graph.svg", highlight=w)
    dot = autograd.render_graph(net.loss, folder / "readme_graph.dot", highlight=w)
    print(f"wrote {svg} and {dot} (docs/graph.svg and docs/graph.dot are copies)")
    return {
        "readme_net": net,
        "readme_grad": w.grad,
        "readme_by_hand": by_hand,
        "readme_svg": Path(svg),
        "readme_dot": Path(dot),
    }


# ---------------------------------------------------------------------------------------------
# Part 2: an nn.MLP with an L2 penalty, and explain_grad


def build(model: Any) -> autograd.Value:
    """L = (out - y)^2 + lambda * sum w^2 for the demo's one sample."""
    out = model(SAMPLE)
    loss = nn.mse_loss([out], [TARGET]) + nn.l2_penalty(model, LAM)
    loss.label = "L"
    return loss


def run(out: str | Path = "out") -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    readme = readme_graph(folder)

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
    page = autograd.explore(loss, highlight=weight).save(folder / "graph.html")
    print(f"wrote {page}: open it in a browser and press Step to walk backward node by node")

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
        "html": page,
        "zero_grad_nodes": zero,
        **readme,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out)


if __name__ == "__main__":
    main()
