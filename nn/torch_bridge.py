"""The road to PyTorch: an :class:`~nn.MLP` as a ``torch.nn.Sequential`` and back.

``to_torch(mlp)`` builds ``Sequential(Linear, activation, Linear, ..., Linear[, activation])``
in float64 with the same weights: ``Linear.weight[j, i]`` is ``mlp.layers[l].neurons[j].w[i]``
and ``Linear.bias[j]`` is ``neurons[j].b``. A ``"linear"`` activation adds no module, as it
adds no node in ``nn``. ``from_torch`` reads such a module (or its ``state_dict``) back into an
``MLP``, checking every layer first and naming the first one that does not fit.

torch is imported only when one of these is called; without it the ``ImportError`` gives the
install line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .layers import ACTIVATIONS, MLP

__all__ = ["from_torch", "to_torch"]

INSTALL = "pip install torch (the tests use torch==2.13.0, CPU)"

#: nn activation name -> the torch.nn module class name that computes it.
_TORCH_NAMES = {
    "tanh": "Tanh",
    "relu": "ReLU",
    "sigmoid": "Sigmoid",
    "leaky_relu": "LeakyReLU",
}
LEAKY_SLOPE = 0.01  # Value.leaky_relu's default slope, the one nn uses


def _torch(who: str) -> Any:
    try:
        import torch
    except ImportError as e:
        raise ImportError(f"{who} needs PyTorch, which is not installed: {INSTALL}") from e
    return torch


def _activation_module(torch: Any, name: str) -> Any:
    if name == "leaky_relu":
        return torch.nn.LeakyReLU(LEAKY_SLOPE)
    return getattr(torch.nn, _TORCH_NAMES[name])()


def to_torch(model: MLP) -> Any:
    """The same network as a ``torch.nn.Sequential`` of float64 ``Linear`` layers.

    Args:
        model: The MLP to copy (its weights are copied, not shared).

    Returns:
        A ``torch.nn.Sequential``; its outputs and gradients equal the MLP's to rounding.

    Raises:
        ImportError: torch is not installed (the message gives the install line).
        TypeError: ``model`` is not an ``nn.MLP``.
    """
    if not isinstance(model, MLP):
        raise TypeError(f"to_torch: expected an nn.MLP, got {type(model).__name__}")
    torch = _torch("MLP.to_torch")
    mods: list[Any] = []
    last = len(model.layers) - 1
    for i, layer in enumerate(model.layers):
        lin = torch.nn.Linear(layer.nin, layer.nout, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(
                torch.tensor([[w.data for w in n.w] for n in layer.neurons], dtype=torch.float64)
            )
            lin.bias.copy_(torch.tensor([n.b.data for n in layer.neurons], dtype=torch.float64))
        mods.append(lin)
        act = model.activation if i < last else model.output_activation
        if ACTIVATIONS[act] is not None:
            mods.append(_activation_module(torch, act))
    return torch.nn.Sequential(*mods)


def _describe(mod: Any) -> str:
    return type(mod).__name__


def _layers_of_module(torch: Any, module: Any) -> tuple[list[tuple[str, Any, Any]], list[str]]:
    """(name, weight, bias) per Linear and the activation after each (``"linear"``: none)."""
    children = list(module.named_children())
    if not children:
        children = [("", module)]
    linears: list[tuple[str, Any, Any]] = []
    acts: list[str] = []
    for name, mod in children:
        label = f"layer {name!r} ({_describe(mod)})"
        if isinstance(mod, torch.nn.Linear):
            if mod.bias is None:
                raise ValueError(f"from_torch: {label} does not fit: it has no bias (bias=False)")
            linears.append((name, mod.weight, mod.bias))
            acts.append("linear")
            continue
        kind = next((a for a, c in _TORCH_NAMES.items() if type(mod) is getattr(torch.nn, c)), None)
        if kind is None:
            known = ", ".join(["Linear", *_TORCH_NAMES.values()])
            raise ValueError(
                f"from_torch: {label} does not fit: an nn.MLP is made of {known} modules only"
            )
        if kind == "leaky_relu" and float(mod.negative_slope) != LEAKY_SLOPE:
            raise ValueError(
                f"from_torch: {label} does not fit: negative_slope {mod.negative_slope} "
                f"(nn's leaky_relu has slope {LEAKY_SLOPE})"
            )
        if not linears:
            raise ValueError(f"from_torch: {label} does not fit: an activation before any Linear")
        if acts[-1] != "linear":
            raise ValueError(
                f"from_torch: {label} does not fit: a second activation after one Linear"
            )
        acts[-1] = kind
    return linears, acts


def _layers_of_state_dict(state: Mapping[str, Any]) -> list[tuple[str, Any, Any]]:
    groups: dict[str, dict[str, Any]] = {}
    for key, tensor in state.items():
        prefix, _, kind = key.rpartition(".") if isinstance(key, str) else ("", "", "")
        if kind not in ("weight", "bias"):
            raise ValueError(
                f"from_torch: state_dict key {key!r} does not fit: expected '<layer>.weight' "
                "and '<layer>.bias' of Linear layers only"
            )
        groups.setdefault(prefix, {})[kind] = tensor
    out = []
    for prefix, parts in groups.items():
        if "weight" not in parts or "bias" not in parts:
            missing = "weight" if "weight" not in parts else "bias"
            raise ValueError(f"from_torch: layer {prefix!r} does not fit: it has no {missing}")
        out.append((prefix, parts["weight"], parts["bias"]))
    return out


def from_torch(
    source: Any,
    *,
    activation: str | None = None,
    output_activation: str | None = None,
    name: str = "mlp",
) -> MLP:
    """An ``nn.MLP`` with the weights of a torch module or state dict.

    Args:
        source: A ``torch.nn.Sequential`` of ``Linear`` layers, each optionally followed by
            ``Tanh``, ``ReLU``, ``Sigmoid`` or ``LeakyReLU(0.01)`` (what :func:`to_torch`
            makes; a lone ``Linear`` too), or a ``state_dict`` of such ``Linear`` layers
            (``{"0.weight": ..., "0.bias": ..., "2.weight": ...}``, in order).
        activation: The hidden layers' activation. For a module it is read from the module
            (giving a different one is a ``ValueError``); for a state dict, which holds no
            activations, it defaults to ``"tanh"`` as ``nn.MLP`` does.
        output_activation: The last layer's activation, likewise (default ``"linear"``).
        name: The new MLP's scope name.

    Returns:
        A new ``nn.MLP`` whose outputs equal the module's.

    Raises:
        ImportError: torch is not installed (the message gives the install line).
        ValueError: A layer does not fit an MLP (the message names the first such layer):
            an unsupported module, shapes that do not chain, mixed hidden activations.
        TypeError: ``source`` is neither a module nor a mapping.
    """
    torch = _torch("MLP.from_torch")
    if isinstance(source, torch.nn.Module):
        linears, acts = _layers_of_module(torch, source)
        if not linears:
            raise ValueError("from_torch: the module has no Linear layer")
        hidden = set(acts[:-1])
        if len(hidden) > 1:
            i = next(i for i, a in enumerate(acts[:-1]) if a != acts[0])
            raise ValueError(
                f"from_torch: layer {linears[i][0]!r} (Linear) does not fit: it is followed by "
                f"{acts[i]} but the layers before it by {acts[0]} (an nn.MLP has one hidden "
                "activation)"
            )
        found = (acts[0] if len(acts) > 1 else None, acts[-1])
        for given, got, what in (
            (activation, found[0], "activation"),
            (output_activation, found[1], "output_activation"),
        ):
            if given is not None and got is not None and given != got:
                raise ValueError(f"from_torch: {what}={given!r} but the module has {got!r}")
        act = found[0] or activation or "tanh"
        out_act = found[1]
    elif isinstance(source, Mapping):
        linears = _layers_of_state_dict(source)
        if not linears:
            raise ValueError("from_torch: the state_dict is empty")
        act = activation or "tanh"
        out_act = output_activation or "linear"
    else:
        raise TypeError(
            f"from_torch: expected a torch.nn.Module or a state_dict, got {type(source).__name__}"
        )
    shapes: list[tuple[int, int]] = []
    values: dict[str, float] = {}
    for li, (lname, weight, bias) in enumerate(linears):
        w = torch.as_tensor(weight).detach().to("cpu", torch.float64)
        b = torch.as_tensor(bias).detach().to("cpu", torch.float64)
        label = f"layer {lname!r}"
        if w.dim() != 2 or b.dim() != 1 or b.shape[0] != w.shape[0]:
            raise ValueError(
                f"from_torch: {label} does not fit: weight {tuple(w.shape)} and bias "
                f"{tuple(b.shape)} are not a Linear layer's (out, in) and (out,)"
            )
        nout, nin = int(w.shape[0]), int(w.shape[1])
        if shapes and nin != shapes[-1][1]:
            raise ValueError(
                f"from_torch: {label} does not fit: it takes {nin} inputs but the layer before "
                f"it has {shapes[-1][1]} outputs"
            )
        if not bool(torch.isfinite(w).all()) or not bool(torch.isfinite(b).all()):
            raise ValueError(f"from_torch: {label} does not fit: non-finite weights")
        shapes.append((nin, nout))
        for j, row in enumerate(w.tolist()):
            for i, v in enumerate(row):
                values[f"layers.{li}.neurons.{j}.w.{i}"] = float(v)
        for j, v in enumerate(b.tolist()):
            values[f"layers.{li}.neurons.{j}.b"] = float(v)
    model = MLP(
        shapes[0][0],
        [n for _, n in shapes],
        activation=act,
        output_activation=out_act,
        init="zeros",
        seed=0,
        name=name,
    )
    model.load_state_dict(values)
    return model
