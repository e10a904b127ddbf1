"""ptypes: schema-defined persistent structures in a pmemobj pool.

    from ptypes.storage import Storage, List, Dict, Set
    from ptypes.buffer import Buffer
    from ptypes.pcollections import SkipList
    from ptypes.graph import Node, Edge
    from ptypes.query import Query, Each

See docs/ptypes_getting_started.rst, ptypes_buffers.rst, ptypes_skiplists.rst,
ptypes_graphs.rst and ptypes_queries.rst.
"""
from pmemobj import inspectors as _inspectors

# how python -m pmemobj shows ptypes objects, also where no installed metadata
# declares it (loaded on first use; see pmemobj.inspectors)
_inspectors.register("ptypes", "ptypes._inspect:inspector")
