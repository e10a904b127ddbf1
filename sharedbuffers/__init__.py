"""sharedbuffers: typed structs packed into files, buffers and pool allocations,
read in place through proxies (see sharedbuffers.mapped_struct)."""
from sharedbuffers import mapped_struct
from sharedbuffers.mapped_struct import *  # noqa: F401,F403  (upstream exposes its names here too)
from sharedbuffers.mapped_struct import __all__ as _names

__all__ = ["mapped_struct"] + [n for n in _names if n != "PooledBuffer"]
