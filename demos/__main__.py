"""``python -m demos ...`` is the ``deltagrad`` command (see :mod:`demos.cli`)."""

import sys

from demos.cli import main

sys.exit(main())
