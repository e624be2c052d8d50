"""Second derivatives: Newton's method next to gradient descent, and a neuron's Hessian.

Run ``python -m demos.newton [--out DIR] [--quick]``. Part one minimises the one-parameter
loss L(w) = e^w - 2w (minimum at w* = ln 2, L'(w) = e^w - 2, L''(w) = e^w) from w = 3 by
gradient descent (w -= eta L') and by Newton's method (w -= L' / L''), both derivatives
from ``autograd.grad``: the second one is ``grad`` of the first, built with
``create_graph=True``. It prints both runs side by side and plots L(w) - L(w*) per step to
``out/newton.png``. Part two prints the Hessian of the seed neuron's loss (sigmoid neuron,
L = (a - y)^2 / 2) with respect to its weights from ``autograd.hessian``, next to the formula
H = (sigma'(z)^2 + (a - y) sigma''(z)) x x^T and to central differences of ``.grad``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd
import nn

from ._common import out_dir, parse_args, rule

# Part one: the loss, where both methods start, and gradient descent's step size.
W0 = 3.0
ETA = 0.1
# Part two: the seed neuron (as demos.neuron).
X = [1.0, -2.0, 0.5]
W = [0.4, 0.3, -0.6]
B = 0.1
Y = 1.0
EPS = 1e-6


def loss_1d(w: autograd.Value) -> autograd.Value:
    """L(w) = e^w - 2w."""
    return w.exp() - 2.0 * w


def _derivatives(w: float) -> tuple[float, float, float]:
    """L, L' and L'' at ``w``: L' by ``grad`` with ``create_graph=True``, L'' by ``grad`` of it."""
    v = autograd.Value(w, label="w")
    loss = loss_1d(v)
    (d1,) = autograd.grad(loss, [v], create_graph=True)
    assert d1 is not None
    (d2,) = autograd.grad(d1, [v])
    assert d2 is not None
    return loss.data, d1.data, d2.data


def _neuron_loss(neuron: nn.Neuron) -> autograd.Value:
    err = neuron(X) - Y
    return err**2 / 2


def _neuron(weights: Sequence[float]) -> nn.Neuron:
    neuron = nn.Neuron(len(X), activation="sigmoid")
    for wi, v in zip(neuron.w, weights):
        wi.data = v
    neuron.b.data = B
    return neuron


def _weight_grads(weights: Sequence[float]) -> list[float]:
    """dL/dw from ``backward()`` at ``weights``."""
    neuron = _neuron(weights)
    _neuron_loss(neuron).backward()
    return [w.grad for w in neuron.w]


def _plot(path: Path, gd: list[float], newton: list[float], floor: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for losses, name, style in ((gd, f"gradient descent (eta = {ETA:g})", "o-"),
                                (newton, "Newton's method", "s-")):  # fmt: skip
        ax.semilogy(range(len(losses)), [max(v, floor) for v in losses], style, label=name)
    ax.set_xlabel("step")
    ax.set_ylabel(f"L(w) - L(w*)   (0 drawn at {floor:g})")
    ax.set_title("L(w) = e^w - 2w from w = 3")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def run(out: str | Path = "out", quick: bool = False) -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    steps = 6 if quick else 10
    best = 2.0 - 2.0 * math.log(2.0)  # L(ln 2)

    rule("L(w) = e^w - 2w: gradient descent w -= eta L'  |  Newton w -= L' / L''")
    print("step        GD w   GD L - L*  |    Newton w      L - L*     L''(w)")
    gd_w, nt_w = W0, W0
    gd_gap: list[float] = []
    nt_gap: list[float] = []
    nt_ws: list[float] = []
    for k in range(steps + 1):
        gl, g1, _ = _derivatives(gd_w)
        nl, n1, n2 = _derivatives(nt_w)
        gd_gap.append(max(gl - best, 0.0))  # 0 once L(w) rounds to L(w*)
        nt_gap.append(max(nl - best, 0.0))
        nt_ws.append(nt_w)
        print(f"{k:>4}  {gd_w:>10.6f} {gd_gap[-1]:>11.3e}  |  {nt_w:>10.6f} {nt_gap[-1]:>11.3e}"
              f" {n2:>9.5f}")  # fmt: skip
        gd_w -= ETA * g1
        nt_w -= n1 / n2
    print(f"w* = ln 2 = {math.log(2.0):.6f}: Newton's error roughly squares each step")
    png = _plot(folder / "newton.png", gd_gap, nt_gap, floor=1e-17)
    print(f"wrote {png}")

    rule("the seed neuron: Hessian of L = (a - y)^2 / 2 with respect to w")
    neuron = _neuron(W)
    loss = _neuron_loss(neuron)
    h = autograd.hessian(loss, neuron.w)
    z = sum(w * x for w, x in zip(W, X)) + B
    a = 1.0 / (1.0 + math.exp(-z))
    s1 = a * (1.0 - a)  # sigma'(z)
    s2 = s1 * (1.0 - 2.0 * a)  # sigma''(z)
    c = s1 * s1 + (a - Y) * s2
    formula = [[c * xi * xj for xj in X] for xi in X]
    print(f"x = {X}   w = {W}   b = {B}   y = {Y}   z = {z:.6f}   a = {a:.6f}")
    print(f"H = (sigma'(z)^2 + (a - y) sigma''(z)) x x^T = ({s1:.6f}^2 + ({a - Y:.6f})"
          f" ({s2:.6f})) x x^T = {c:.6f} x x^T")  # fmt: skip
    numeric = []
    for j in range(len(W)):
        up, down = list(W), list(W)
        up[j] += EPS
        down[j] -= EPS
        gu, gd = _weight_grads(up), _weight_grads(down)
        numeric.append([(u - d) / (2.0 * EPS) for u, d in zip(gu, gd)])
    numeric = [list(col) for col in zip(*numeric)]  # row i: d(dL/dw_i)/dw_j
    worst = max(abs(h[i][j] - numeric[i][j]) for i in range(len(W)) for j in range(len(W)))
    print("autograd.hessian(loss, w):              central differences of .grad:")
    for i in range(len(W)):
        ours = " ".join(f"{h[i][j]:+.6f}" for j in range(len(W)))
        num = " ".join(f"{numeric[i][j]:+.6f}" for j in range(len(W)))
        print(f"  [{ours}]     [{num}]")
    ok = "ok" if worst < 1e-6 else "MISMATCH"
    print(f"largest difference {worst:.2e}  {ok}; the formula gives H[0][0] = {formula[0][0]:.6f}")
    return {
        "steps": steps,
        "gd_gap": gd_gap,
        "newton_gap": nt_gap,
        "newton_w": nt_ws,
        "png": png,
        "hessian": h.tolist(),
        "formula": formula,
        "numeric": numeric,
        "worst": worst,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out, quick=args.quick)


if __name__ == "__main__":
    main()
