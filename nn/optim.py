"""Optimizers: ``SGD`` and ``Adam`` with ``torch.optim``'s exact update formulas.

Each reads ``p.grad`` and writes ``p.data`` of its parameters. The arithmetic follows
``torch.optim``'s single-tensor code operation by operation, so float64 trajectories agree
with PyTorch's to rounding.

SGD (λ weight decay, μ momentum, γ learning rate)::

    g = ∇ + λ θ
    b = g                  (first step)      b = μ b + g   (later steps)
    g = g + μ b            (nesterov)        g = b         (otherwise; only if μ != 0)
    θ = θ - γ g

Adam (weight decay is L2 added to the gradient, as ``torch.optim.Adam``, not AdamW)::

    g = ∇ + λ θ
    m = m + (1 - β1)(g - m)            v = β2 v + (1 - β2) g²
    θ = θ - γ / (1 - β1^t) · m / (√v / √(1 - β2^t) + ε)

A parameter whose ``grad`` is ``None`` has no gradient: ``step()`` skips it and leaves its
state alone (as ``torch.optim`` does; Adam's ``t`` counts that parameter's own updates). A step
checks every gradient before it changes anything: a grad that is no real number raises a
``TypeError`` naming the parameter, and no parameter or state is touched.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable
from typing import Any

from autograd import Value

from ._validate import nonnegative
from .module import Module

__all__ = ["SGD", "Adam", "Optimizer"]


def _describe(p: Value) -> str:
    """How an error names a parameter: its label and scope, when it has them."""
    lab = f" {p.label!r}" if p.label else ""
    where = f" in {p.scope}" if p.scope else ""
    return f"{lab}{where}"


class Optimizer:
    """Common part of the optimizers: the parameter list, ``lr``, ``zero_grad``.

    Args:
        params: An iterable of Values (e.g. ``model.parameters()``) or a Module.
        lr: The learning rate γ >= 0 (assignable later as ``opt.lr``).
    """

    def __init__(self, params: Iterable[Value] | Module, lr: float) -> None:
        who = type(self).__name__
        if isinstance(params, Module):
            params = params.parameters()
        if isinstance(params, Value):
            raise TypeError(f"{who}: params must be an iterable of Values, not one Value")
        try:
            ps = list(params)
        except TypeError:
            raise TypeError(
                f"{who}: params must be an iterable of Values, got {type(params).__name__}"
            ) from None
        if not ps:
            raise ValueError(f"{who}: got an empty parameter list")
        seen: set[int] = set()
        for i, p in enumerate(ps):
            if not isinstance(p, Value):
                raise TypeError(f"{who}: params[{i}] is not a Value: {type(p).__name__}")
            if id(p) in seen:
                raise ValueError(f"{who}: params[{i}] appears twice (it would be updated twice)")
            seen.add(id(p))
        self.params: list[Value] = ps
        self._lr = nonnegative(lr, "lr", who)

    @property
    def lr(self) -> float:
        """The learning rate γ (assign to change it between steps, e.g. for a schedule)."""
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = nonnegative(value, "lr", type(self).__name__)

    def zero_grad(self) -> None:
        """Set ``.grad`` of every parameter to 0."""
        for p in self.params:
            p.grad = 0.0

    def step(self) -> None:
        """Update every parameter once from its ``.grad`` (``None``: skipped)."""
        raise NotImplementedError

    def _checked_grad(self, i: int, p: Value, g: object) -> float:
        """A grad that is not a float (backward stores floats) as one, or a ``TypeError``
        naming the parameter. Steps call it before they change anything."""
        if isinstance(g, bool) or not isinstance(g, numbers.Real) or isinstance(g, Value):
            raise TypeError(
                f"{type(self).__name__}.step: params[{i}]{_describe(p)} has grad {g!r} "
                f"({type(g).__name__}), not a real number or None; no parameter was updated"
            )
        return float(g)

    def _group(self) -> dict[str, Any]:
        raise NotImplementedError

    def _state(self, i: int) -> dict[str, float] | None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """The hyperparameters and per-parameter state, laid out as ``torch.optim``'s.

        Returns:
            ``{"state": {index: {...}}, "param_groups": [{hyperparameters, "params":
            [0, 1, ..]}]}``: plain numbers, a fresh copy.
        """
        state: dict[int, dict[str, float]] = {}
        for i in range(len(self.params)):
            s = self._state(i)
            if s is not None:
                state[i] = s
        group = self._group()
        group["params"] = list(range(len(self.params)))
        return {"state": state, "param_groups": [group]}


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, Nesterov and weight decay.

    Args:
        params: An iterable of Values or a Module.
        lr: Learning rate γ.
        momentum: Momentum factor μ (0 = plain SGD).
        weight_decay: L2 coefficient λ added to the gradient: g = ∇ + λ θ.
        nesterov: Nesterov momentum (needs ``momentum > 0``, as in PyTorch).
    """

    def __init__(
        self,
        params: Iterable[Value] | Module,
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = nonnegative(momentum, "momentum", "SGD")
        self.weight_decay = nonnegative(weight_decay, "weight_decay", "SGD")
        if not isinstance(nesterov, bool):
            raise TypeError(f"SGD: nesterov must be a bool, got {nesterov!r}")
        if nesterov and self.momentum == 0.0:
            raise ValueError("SGD: Nesterov momentum requires a momentum > 0")
        self.nesterov = nesterov
        self._buf: list[float | None] = [None] * len(self.params)

    def step(self) -> None:
        """θ = θ - γ g with g built from the gradient, weight decay and momentum."""
        lr = self._lr
        mu = self.momentum
        wd = self.weight_decay
        nesterov = self.nesterov
        # Every grad is checked, and the new values computed, before anything changes: a
        # step updates all parameters or none.
        bufs = list(self._buf) if mu != 0.0 else self._buf
        new: list[tuple[Value, float]] = []
        for i, p in enumerate(self.params):
            g = p.grad
            if type(g) is not float:
                if g is None:  # no gradient: skipped, as torch.optim does
                    continue
                g = self._checked_grad(i, p, g)
            x = p.data
            if wd != 0.0:
                g = g + wd * x
            if mu != 0.0:
                b = bufs[i]
                b = g if b is None else b * mu + g
                bufs[i] = b
                g = g + mu * b if nesterov else b
            new.append((p, x + -lr * g))
        self._buf = bufs
        for p, x in new:
            p.data = x

    def _group(self) -> dict[str, Any]:
        return {
            "lr": self._lr,
            "momentum": self.momentum,
            "dampening": 0.0,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
        }

    def _state(self, i: int) -> dict[str, float] | None:
        b = self._buf[i]
        return None if b is None else {"momentum_buffer": b}

    def __repr__(self) -> str:
        return (
            f"SGD(lr={self._lr}, momentum={self.momentum}, weight_decay={self.weight_decay}, "
            f"nesterov={self.nesterov}, params={len(self.params)})"
        )


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and L2 weight decay, as ``torch.optim.Adam``.

    Args:
        params: An iterable of Values or a Module.
        lr: Learning rate γ.
        betas: (β1, β2), decay rates of the first and second moment, each in [0, 1).
        eps: ε >= 0 added to the denominator.
        weight_decay: L2 coefficient λ added to the gradient (not decoupled: not AdamW).
    """

    def __init__(
        self,
        params: Iterable[Value] | Module,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        try:
            b1, b2 = betas
        except (TypeError, ValueError):
            raise TypeError(f"Adam: betas must be a pair of floats, got {betas!r}") from None
        self.betas = (
            nonnegative(b1, "beta1", "Adam", upper=1.0),
            nonnegative(b2, "beta2", "Adam", upper=1.0),
        )
        self.eps = nonnegative(eps, "eps", "Adam")
        self.weight_decay = nonnegative(weight_decay, "weight_decay", "Adam")
        n = len(self.params)
        self.t = 0  # calls of step()
        self._steps = [0] * n  # updates of each parameter (torch's per-parameter "step")
        self._m = [0.0] * n
        self._v = [0.0] * n

    def step(self) -> None:
        """One Adam update of every parameter with a grad (t increases by one)."""
        b1, b2 = self.betas
        wd = self.weight_decay
        eps = self.eps
        lr = self._lr
        c1 = 1.0 - b1
        c2 = 1.0 - b2
        # Every grad is checked, and the new values computed, before anything changes: a
        # step updates all parameters or none.
        ms = list(self._m)
        vs = list(self._v)
        steps = list(self._steps)
        corrections: dict[int, tuple[float, float]] = {}  # t -> (γ / (1 - β1^t), √(1 - β2^t))
        new: list[tuple[Value, float]] = []
        for i, p in enumerate(self.params):
            g = p.grad
            if type(g) is not float:
                if g is None:  # no gradient: skipped, state untouched, as torch.optim does
                    continue
                g = self._checked_grad(i, p, g)
            t = steps[i] = steps[i] + 1
            c = corrections.get(t)
            if c is None:
                c = corrections[t] = (lr / (1.0 - b1**t), math.sqrt(1.0 - b2**t))
            step_size, bc2_sqrt = c
            x = p.data
            if wd != 0.0:
                g = g + wd * x
            m = ms[i]
            # torch's lerp(m, g, w = 1 - β1), whose formula depends on which side of 1/2 w is
            m = m + c1 * (g - m) if c1 < 0.5 else g + (c1 - 1.0) * (g - m)
            v = vs[i] * b2 + c2 * (g * g)
            ms[i] = m
            vs[i] = v
            new.append((p, x + -step_size * (m / (math.sqrt(v) / bc2_sqrt + eps))))
        self.t += 1
        self._m, self._v, self._steps = ms, vs, steps
        for p, x in new:
            p.data = x

    def _group(self) -> dict[str, Any]:
        return {
            "lr": self._lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
        }

    def _state(self, i: int) -> dict[str, float] | None:
        if self._steps[i] == 0:
            return None
        return {"step": float(self._steps[i]), "exp_avg": self._m[i], "exp_avg_sq": self._v[i]}

    def __repr__(self) -> str:
        return (
            f"Adam(lr={self._lr}, betas={self.betas}, eps={self.eps}, "
            f"weight_decay={self.weight_decay}, params={len(self.params)})"
        )
