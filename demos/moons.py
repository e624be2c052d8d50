"""micrograd's demo: an MLP 2-16-16-1 learns the two moons with hinge loss + L2.

Run ``python -m demos.moons [--out DIR] [--quick]``. Same recipe as micrograd's
``demo.ipynb``: 100 points, ReLU MLP 2-16-16-1, max-margin (hinge) loss plus 1e-4 * sum w^2,
full-batch SGD with the learning rate decaying as 1.0 - 0.9 * k / epochs. A progress bar shows
when run in a terminal. Writes ``out/moons_boundary.png`` and ``out/moons_history.png``.
The graph is compiled to numpy code (``autograd.compile``) when available, which is what keeps
100 epochs within seconds.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import autograd
import nn

from ._common import out_dir, parse_args, rule

SEED = 1337
L2 = 1e-4


def run(
    out: str | Path = "out", *, epochs: int = 100, compiled: bool | None = None
) -> dict[str, Any]:
    """Run the demo, print its story, return its numbers (for tests)."""
    folder = out_dir(out)
    if compiled is None:
        compiled = hasattr(autograd, "compile")
    X, y = nn.data.make_moons(n=100, noise=0.1, seed=0)
    model = nn.MLP(2, [16, 16, 1], activation="relu", init="uniform", seed=SEED)
    n_params = len(model.parameters())
    rule(f"MLP 2-16-16-1 (relu), {n_params} parameters; hinge loss + {L2:g} * sum w^2")
    t0 = time.perf_counter()
    h = nn.fit(
        model,
        X,
        y,
        loss="hinge",
        epochs=epochs,
        l2=L2,
        lr_schedule=lambda k: 1.0 - 0.9 * k / epochs,
        compiled=compiled,
    )
    seconds = time.perf_counter() - t0
    for k in sorted({0, *range(0, epochs, max(1, epochs // 10)), epochs - 1}):
        acc = h.accuracy[k] or 0.0
        print(f"epoch {k:3d}  loss {h.loss[k]:.4f}  accuracy {acc:6.1%}  lr {h.lr[k]:.3f}")
    mode = "compiled to numpy" if compiled else "interpreted"
    print(f"trained {epochs} epochs in {seconds:.2f} s ({mode})")
    # Accuracy of the trained model (History's last entry was measured before the last step).
    with autograd.no_grad():
        hits = sum(1 for xi, yi in zip(X, y) if (model(xi).data > 0) == (yi > 0))
    final = hits / len(X)
    print(f"training accuracy after training: {hits}/{len(X)} = {final:.1%}")
    boundary = nn.plot.decision_boundary(model, X, y, folder / "moons_boundary.png")
    hist = nn.plot.history(h, folder / "moons_history.png")
    print(f"wrote {boundary} and {hist}")
    return {
        "accuracy": final,
        "loss": h.loss[-1],
        "history": h,
        "seconds": seconds,
        "compiled": compiled,
        "boundary": boundary,
        "history_plot": hist,
        "model": model,
        "X": X,
        "y": y,
    }


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(__doc__.splitlines()[0], argv)
    run(args.out, epochs=60 if args.quick else 100)


if __name__ == "__main__":
    main()
