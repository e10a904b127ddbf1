"""Persistent buffers: ``Storage.define(Buffer)`` adds a ``Buffer`` type whose
instances are copies of any object supporting the buffer protocol (bytes,
array.array, numpy arrays, memoryviews), with their format and shape.

``memoryview()`` and ``numpy.asarray()`` of a persistent buffer read the pool
memory directly, without copying.  The exports are read-only: writes that
bypass the transactions would not survive a crash consistently; assign a new
Buffer to change the stored data.
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
