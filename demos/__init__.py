"""deltagrad's demos: ``deltagrad demo NAME`` (installed) or ``python -m demos.NAME`` (repo).

``import nn`` comes first: it checks that ``autograd`` is deltagrad's and, when HIPS autograd
has replaced it, raises an ImportError that says so and gives the repair command.
"""

import nn  # noqa: F401
