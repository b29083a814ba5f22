"""The NAS-Bench-201 space: architecture values (`arch`), benchmark-exact network (`network`, `ops`), fused
supernet (`supernet`), analytic cost (`cost`), GM vector (`gm`) and the `SearchSpace` object (`space.SPACE`).

The architecture API is re-exported here (no torch): `from harness.spaces.nb201 import NB201Arch`.
"""

from harness.spaces.nb201.arch import *  # noqa: F403
