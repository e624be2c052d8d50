"""deltagrad's scalar reverse-mode autograd engine.

This is the ``autograd`` package of the ``deltagrad`` distribution (not HIPS autograd, which
uses the same import name): :data:`DISTRIBUTION` says so at run time.
"""

from ._fast import is_fast, set_fast
from .anomaly import AnomalyError, creation_site, detect_anomaly, set_detect_anomaly
from .compile import CompileError, Program
from .compile import (
    compile as compile,  # not in __all__: a star import must not shadow the builtin
)
from .define import define_op
from .draw import RendererError, RendererNotFoundError, draw_graph, render_graph
from .engine import (
    Value,
    apply_op,
    current_scope,
    dot,
    enable_grad,
    is_grad_enabled,
    no_grad,
    scope,
    topological_order,
)
from .engine import (
    sum as sum,  # not in __all__: a star import must not shadow the builtin
)
from .explain import Explanation, explain_grad
from .explore import Explorer, explore
from .gradcheck import GradcheckError, gradcheck
from .graph import Graph
from .higher import grad, gradgradcheck, hessian
from .io import write_atomic
from .ops import OPS, Op, get_op

#: Marks this package as deltagrad's, so tests and users can tell it from HIPS autograd.
DISTRIBUTION = "deltagrad"
__version__ = "0.1.0"

__all__ = [
    "DISTRIBUTION",
    "OPS",
    "AnomalyError",
    "CompileError",
    "Explanation",
    "Explorer",
    "GradcheckError",
    "Graph",
    "Op",
    "Program",
    "RendererError",
    "RendererNotFoundError",
    "Value",
    "apply_op",
    "creation_site",
    "current_scope",
    "define_op",
    "detect_anomaly",
    "dot",
    "draw_graph",
    "enable_grad",
    "explain_grad",
    "explore",
    "get_op",
    "grad",
    "gradcheck",
    "gradgradcheck",
    "hessian",
    "is_fast",
    "is_grad_enabled",
    "no_grad",
    "render_graph",
    "scope",
    "set_detect_anomaly",
    "set_fast",
    "topological_order",
    "write_atomic",
]
