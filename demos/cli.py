"""The ``deltagrad`` command: run the demos from an installed package.

``deltagrad demo NAME [--out DIR] [--quick]`` runs one demo (``all`` runs the four in turn),
``deltagrad demo --list`` names them. In a clone of the repository ``python -m demos.NAME`` does
the same, and ``python -m demos ...`` is this command.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

#: Demo name -> what it shows (one line), in the order ``deltagrad demo all`` runs them.
DEMOS = {
    "neuron": "one sigmoid neuron: delta = dL/da * da/dz, dL/dw_i = delta * x_i, one step",
    "weight_sums": "the 2-3-1 net's weight sums; training with no penalty, L1 and L2",
    "moons": "micrograd's demo: MLP 2-16-16-1 learns the two moons",
    "graph": "a small net's graph: gradient heat map, clusters, one weight's chain rule",
    "newton": "Newton's method next to gradient descent; the seed neuron's Hessian",
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deltagrad", description="deltagrad: backpropagation made exact, fast and visible."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser(
        "demo",
        help="run a demo",
        description="Run a demo; its files land in --out (default: out/).",
        epilog="demos: " + "; ".join(f"{k}: {v}" for k, v in DEMOS.items()),
    )
    demo.add_argument("name", nargs="?", choices=[*DEMOS, "all"], help="which demo")
    demo.add_argument("--list", action="store_true", help="list the demos and exit")
    demo.add_argument("--out", default=None, help="folder for the files (default: out/)")
    demo.add_argument("--quick", action="store_true", help="smaller settings, same story")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``deltagrad`` console script.

    Args:
        argv: The arguments after the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status, 0 on success.
    """
    parser = _parser()
    args = parser.parse_args(argv)
    if args.list:
        for name, what in DEMOS.items():
            print(f"{name:<12} {what}")
        return 0
    if args.name is None:
        parser.error("demo: name a demo (one of " + ", ".join([*DEMOS, "all"]) + ") or --list")
    rest = [*(["--out", args.out] if args.out is not None else []), *(["--quick"] * args.quick)]
    for name in DEMOS if args.name == "all" else [args.name]:
        print(f"--- deltagrad demo {name}", flush=True)
        importlib.import_module(f"demos.{name}").main(rest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
