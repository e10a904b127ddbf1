"""ptypes: schema-defined persistent structures in a pmemobj pool.

    from ptypes.storage import Storage, List, Dict, Set
    from ptypes.buffer import Buffer

See docs/ptypes_getting_started.rst and docs/ptypes_buffers.rst.
"""
