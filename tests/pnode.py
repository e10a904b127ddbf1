"""A user-defined Persistent type written in pure Python against the
MemoryManager API (the protocol of seeds/003), used by the core's tests."""
import ctypes

from pmemobj import OID_NULL

HEADER = 16
NFIELDS = 2


class Node:
    """Two reference fields, each an oid (uuid_lo, offset) stored as 2 x uint64."""

    _p_mm = None
    _p_oid = None

    def _p_new(self, mm):
        self._p_mm = mm
        self._p_oid = mm.zalloc(HEADER + 16 * NFIELDS)

    def _p_resurrect(self, mm, oid):
        self._p_mm = mm
        self._p_oid = oid

    def _slot(self, i):
        return (ctypes.c_uint64 * 2).from_address(self._p_mm.direct(self._p_oid) + HEADER + 16 * i)

    def get(self, i):
        uuid, off = self._slot(i)
        return self._p_mm.resurrect((uuid, off)) if off else None

    def set(self, i, value):
        mm = self._p_mm
        with mm.transaction():
            new = OID_NULL if value is None else mm.persist(value)
            if new != OID_NULL:
                mm.incref(new)
            slot = self._slot(i)
            old = (slot[0], slot[1])
            mm.snapshot_range(ctypes.addressof(slot), 16)
            slot[0], slot[1] = new
            mm.xdecref(old)

    def _p_traverse(self):
        return [(s[0], s[1]) for s in map(self._slot, range(NFIELDS)) if s[1]]

    def _p_substructures(self):
        return []

    def _p_deallocate(self):
        mm = self._p_mm
        with mm.transaction():
            for i in range(NFIELDS):
                slot = self._slot(i)
                old = (slot[0], slot[1])
                if old[1]:
                    mm.snapshot_range(ctypes.addressof(slot), 16)
                    slot[0] = slot[1] = 0
                    mm.decref(old)
