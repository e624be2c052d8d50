"""deltagrad's neural-net layer, built only from ``autograd``'s public API.

This is the ``nn`` package of the ``deltagrad`` distribution (not the unrelated PyPI ``nn``).
"""

from ._compat import require_deltagrad_autograd

require_deltagrad_autograd()  # before any `from autograd import ...`: a clear error, not a bare one

from . import data, init, plot  # plot imports matplotlib only when a function is called
from .layers import ACTIVATIONS, MLP, Layer, Neuron
from .losses import bce_with_logits_loss, cross_entropy_loss, hinge_loss, mse_loss
from .module import FORMAT, IncompatibleKeys, Module
from .optim import SGD, Adam, Optimizer
from .penalties import l1_penalty, l2_penalty, weight_stats, weight_sum
from .train import History, TrainingDivergedError, fit

DISTRIBUTION = "deltagrad"

__all__ = [
    "ACTIVATIONS",
    "DISTRIBUTION",
    "FORMAT",
    "MLP",
    "SGD",
    "Adam",
    "History",
    "IncompatibleKeys",
    "Layer",
    "Module",
    "Neuron",
    "Optimizer",
    "TrainingDivergedError",
    "bce_with_logits_loss",
    "cross_entropy_loss",
    "data",
    "fit",
    "hinge_loss",
    "init",
    "l1_penalty",
    "l2_penalty",
    "mse_loss",
    "plot",
    "weight_stats",
    "weight_sum",
]
