# The exceptions users see (DESIGN.md, "Errors users see").
# (included by _core.pyx)


# ---------------------------------------------------------------------------
# Errors users see (DESIGN.md)

class PoolFullError(MemoryError):
    """The pool has no room left; the transaction was rolled back."""


class TransactionError(RuntimeError):
    """A transaction was misused: a write outside one, after an abort, on two pools at once."""


class InvalidPoolError(OSError):
    """The file is not a pool of this layout, or its content is damaged."""


class PoolInUseError(OSError):
    """The pool file is already open (in this process or another)."""


class UnknownClassError(TypeError):
    """The pool holds objects of a class this process cannot import (not damage)."""

    def __init__(self, class_name, reason):
        super().__init__(f"class {class_name} is not importable ({reason}); add the directory of its "
                         f"module to PYTHONPATH")
        self.class_name = class_name


cdef str _name_of(type t):
    return f"{t.__module__}.{t.__qualname__}" if t.__module__ != "builtins" else t.__qualname__
