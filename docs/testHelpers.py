"""Volatile classes the ptypes documentation uses as bases of persistent structures."""


class VolatileMixIn(object):
    """A mix-in providing a method to persistent structures."""

    def foo(self):
        return 314


class VolatileBase(object):
    """A plain volatile base class."""
