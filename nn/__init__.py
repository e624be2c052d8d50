"""deltagrad's neural-net layer, built only from ``autograd``'s public API.

This is the ``nn`` package of the ``deltagrad`` distribution (not the unrelated PyPI ``nn``).
"""

DISTRIBUTION = "deltagrad"
