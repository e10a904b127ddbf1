"""sharedbuffers: typed structs packed into files, buffers and pool allocations,
read in place through proxies (see sharedbuffers.mapped_struct)."""
from sharedbuffers import mapped_struct

__all__ = ["mapped_struct"]
