"""The 2-3-1 network's weight sums, and what L1 and L2 penalties do to them during training.

Run ``python -m demos.weight_sums [--out DIR] [--quick]``. It prints W_input_to_hidden (3x2)
and W_hidden_to_output (3x1), their sums and the total, L1 = sum |w| and L2 = sum w^2; then
trains the same network (same initial weights, same data, same learning-rate schedule) three
times: no penalty, + l1 * sum |w|, + l2 * sum w^2, and plots the weight sum, L1 and L2 over
training to ``out/weight_sums.png`` (plus each run's full history plot).

About "L1 drives weights to zero": plain gradient descent moves a weight by eta * l1 * sign(w)
per step, so a weight the penalty wins over hops across 0 instead of landing on it exactly.
The learning rate decays here, so the hops shrink to eta * l1 at the end; we count a weight as
zero when |w| < ZERO = 1e-3. (A proximal step, soft-thresholding w to 0 when |w| < eta * l1,
would give exact zeros; that is a different optimizer.)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd
import nn

from ._common import out_dir, parse_args, rule

SEED = 3
ZERO = 1e-3
L1 = 0.05
L2 = 0.05
LR_START, LR_END = 0.5, 0.02
#: The run each ``weight_sums_history_{tag}.png`` shows, written in its title.
RUN_TITLES = {
    "no": "no penalty",
    "l1": f"L1 penalty {L1:g} * Σ|w|",
    "l2": f"L2 penalty {L2:g} * Σw²",
}


def matrices(model: Any) -> tuple[list[list[float]], list[list[float]]]:
    """W_input_to_hidden (row j = hidden neuron j's weights) and W_hidden_to_output (3x1)."""
    hidden, output = model.layers
    w_ih = [[w.data for w in n.w] for n in hidden.neurons]
    w_ho = [[w.data] for w in output.neurons[0].w]
    return w_ih, w_ho


def _show(name: str, m: list[list[float]]) -> None:
    print(f"{name} ({len(m)}x{len(m[0])}):")
    for row in m:
        print("   [" + "  ".join(f"{v:+.4f}" for v in row) + "]")


def _flat(m: list[list[float]]) -> list[float]:
    return [v for row in m for v in row]


def _schedule(epochs: int) -> Any:
    def lr(k: int) -> float:
        return LR_START + (LR_END - LR_START) * k / max(1, epochs - 1)

    return lr


def _figure(runs: dict[str, Any], path: Path) -> Path:
    """Weight sum, L1 and L2 (whole network) over training, one line per run."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    titles = {"sum": "weight sum  Σw", "l1": "L1  Σ|w|", "l2": "L2  Σw²"}
    for ax, stat in zip(axes, ("sum", "l1", "l2")):
        for name, run in runs.items():
            series = nn.plot.weight_series(run["history"].weight_stats)[stat]["total"]
            ax.plot(run["history"].epochs, series, label=name)
        ax.set_title(titles[stat])
        ax.set_xlabel("epoch")
        ax.set_ylabel(nn.plot.YLABELS[stat])
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    autograd.write_atomic(path, buf.getvalue())  # the library's writer: atomic, umask mode
    return path


def run(
    out: str | Path = "out", *, epochs: int = 300, n: int = 60, history_plots: bool = True
) -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    X, y = nn.data.make_moons(n=n, noise=0.1, seed=0)

    rule("the 2-3-1 network: z = W x + b per layer")
    model = nn.MLP(2, [3, 1], activation="tanh", seed=SEED)
    start = model.state_dict()
    w_ih, w_ho = matrices(model)
    _show("W_input_to_hidden", w_ih)
    _show("W_hidden_to_output", w_ho)
    s_ih, s_ho = sum(_flat(w_ih)), sum(_flat(w_ho))
    every = _flat(w_ih) + _flat(w_ho)
    total = s_ih + s_ho
    l1 = sum(abs(v) for v in every)
    l2 = sum(v * v for v in every)
    print(f"sum W_input_to_hidden  = {s_ih:+.6f}")
    print(f"sum W_hidden_to_output = {s_ho:+.6f}")
    print(f"total sum of weights   = {s_ih:+.6f} + {s_ho:+.6f} = {total:+.6f}")
    print(f"L1 = sum |w|   = {l1:.6f}   (penalty lambda * L1)")
    print(f"L2 = sum w^2   = {l2:.6f}   (penalty lambda * L2)")
    print(f"nn.weight_sum(model) = {nn.weight_sum(model).data:+.6f}  (biases excluded)")

    rule(f"training three times: {epochs} epochs, lr {LR_START} -> {LR_END}, hinge loss")
    runs: dict[str, Any] = {}
    for name, pen in (("no penalty", {}), (f"L1 {L1:g}", {"l1": L1}), (f"L2 {L2:g}", {"l2": L2})):
        model.load_state_dict(start)
        h = nn.fit(
            model,
            X,
            y,
            loss="hinge",
            epochs=epochs,
            lr_schedule=_schedule(epochs),
            progress=False,
            **pen,
        )
        ws = [w.data for w in model.weights()]
        near = sum(1 for v in ws if abs(v) < ZERO)
        runs[name] = {
            "history": h,
            "weights": ws,
            "near_zero": near,
            "sum": sum(ws),
            "l1": sum(abs(v) for v in ws),
            "l2": sum(v * v for v in ws),
            "accuracy": h.accuracy[-1],
            "matrices": matrices(model),
        }
        if history_plots:
            tag = name.split()[0].lower()
            title = f"weight_sums: 2-3-1 net trained with {RUN_TITLES[tag]}"
            nn.plot.history(h, folder / f"weight_sums_history_{tag}.png", title=title)

    print(f"{'run':<12}{'accuracy':>10}{'sum w':>12}{'L1':>12}{'L2':>12}   |w| < {ZERO:g}")
    for name, r in runs.items():
        print(
            f"{name:<12}{r['accuracy']:>10.1%}{r['sum']:>+12.5f}{r['l1']:>12.5f}{r['l2']:>12.5f}"
            f"   {r['near_zero']} of {len(r['weights'])}"
        )
    names = list(runs)
    base, r1, r2 = runs[names[0]], runs[names[1]], runs[names[2]]
    print(
        f"L1 sets {r1['near_zero']} weights to (near) zero, against {base['near_zero']} "
        "without a penalty: it makes the network sparse."
    )
    print(
        f"L2 shrinks the weights: sum w^2 {base['l2']:.4f} -> {r2['l2']:.4f} "
        f"({r2['l2'] / base['l2']:.0%}), yet few reach zero ({r2['near_zero']})."
    )
    _show("W_input_to_hidden after L1", r1["matrices"][0])
    _show("W_hidden_to_output after L1", r1["matrices"][1])
    fig = _figure(runs, folder / "weight_sums.png")
    more = " and the three weight_sums_history_*.png" if history_plots else ""
    print(f"wrote {fig}{more}")
    return {
        "W_input_to_hidden": w_ih,
        "W_hidden_to_output": w_ho,
        "sum_input_to_hidden": s_ih,
        "sum_hidden_to_output": s_ho,
        "total": total,
        "l1": l1,
        "l2": l2,
        "runs": runs,
        "figure": fig,
        "zero": ZERO,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out, history_plots=not args.quick)


if __name__ == "__main__":
    main()
