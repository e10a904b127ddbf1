"""Persistent buffers: ``Storage.define(Buffer)`` adds a ``Buffer`` type whose
instances are copies of any object supporting the buffer protocol (bytes,
array.array, numpy arrays, memoryviews), with their format and shape.

``memoryview()`` and ``numpy.asarray()`` of a persistent buffer read the pool
memory directly, without copying.  Inside a transaction (``with
storage.transaction():``) the exports are writable: the buffer's data is added
to the transaction when it is exported, so writes through the view commit or
roll back with it, also when the process dies.  Outside a transaction they
are read-only.  Release writable views inside the block: what is written
through a view after its transaction ended is in no transaction.
"""
from .storage import TypeDescriptor

__all__ = ["Buffer", "BufferType"]


class BufferType(TypeDescriptor):
    """The descriptor of buffer types; ``Buffer('Other')`` names another one."""
    kind = "Buffer"
    max_params = 0

    def __call__(self, name):
        return BufferType(name)


Buffer = BufferType("Buffer")
