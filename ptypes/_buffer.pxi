# Included by _objects.pyx: buffers (pt_buffer_t), copies of buffer-protocol
# objects with their format and shape.

cdef class PtBuffer(PtObject):
    """A persistent copy of a buffer-protocol object, exported without copying.

    Inside a transaction of this thread an export is writable: its data is
    added to the transaction first (snapshotted), so what is written through
    a memoryview or a numpy array commits or rolls back with the transaction.
    Outside one, exports are read-only (a request for a writable one raises
    BufferError): such writes would be in no transaction.  A view kept after
    its transaction ended is still writable for Python, but what is written
    through it then is in no transaction: release views inside the block."""

    cdef pt_buffer_t *bp(self) except NULL:
        cdef pt_buffer_t *b = <pt_buffer_t *>self.at(sizeof(pt_buffer_t))
        cdef uint64_t meta
        if b.ndim > PT_MAX_NDIM or b.fmtlen > 4096 or b.data_off % 16:
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has a bad header")
        meta = sizeof(pt_buffer_t) + 16 * b.ndim + b.fmtlen + 1
        if b.data_off < meta or b.nbytes > (1 << 48):
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has a bad header")
        self.at(b.data_off + b.nbytes)
        if (<char *>b)[sizeof(pt_buffer_t) + 16 * b.ndim + b.fmtlen] != 0:
            raise damaged(self.mm, f"buffer at 0x{self.off:x} has an unterminated format")
        return b

    def __getbuffer__(self, Py_buffer *view, int flags):
        cdef pt_buffer_t *b = self.bp()
        cdef bint writable = self.mm.owner == PyThread_get_thread_ident()
        if writable:
            if b.nbytes:
                self.mm.snapshot(<char *>b + b.data_off, b.nbytes)
        elif flags & PyBUF_WRITABLE:
            raise BufferError("persistent buffers are writable inside a transaction only "
                              "(with storage.transaction(): ...), so that writes commit or roll back")
        view.buf = <char *>b + b.data_off
        view.obj = self
        view.len = b.nbytes
        view.readonly = not writable
        view.itemsize = b.itemsize
        view.format = (<char *>b + sizeof(pt_buffer_t) + 16 * b.ndim) if flags & PyBUF_FORMAT else NULL
        if flags & PyBUF_ND:
            view.ndim = b.ndim
            view.shape = <Py_ssize_t *>b.dims
        else:
            view.ndim = 1
            view.shape = NULL
        view.strides = <Py_ssize_t *>(b.dims + b.ndim) if flags & PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    @property
    def contents(self):
        """The data as bytes."""
        cdef pt_buffer_t *b = self.bp()
        return PyBytes_FromStringAndSize(<char *>b + b.data_off, b.nbytes)

    def __len__(self):
        return self.bp().nbytes


cdef PtBuffer new_buffer(Session s, TypeInfo ti, object src):
    cdef Py_buffer view
    cdef Py_ssize_t i, ndim, fmtlen
    cdef bytes fmt
    cdef uint64_t data_off
    cdef pt_buffer_t *b
    cdef PtBuffer p
    if isinstance(src, PtObject) or not PyObject_CheckBuffer(src):
        raise TypeError(f"Objects of type {type(src).__name__!r} do not support the buffer protocol.")
    PyObject_GetBuffer(src, &view, PyBUF_FULL_RO)
    try:
        ndim = view.ndim
        if ndim > <Py_ssize_t>PT_MAX_NDIM:
            raise ValueError(f"buffers of more than {PT_MAX_NDIM} dimensions are not supported")
        fmt = view.format if view.format != NULL else b"B"
        fmtlen = len(fmt)
        if fmtlen > 4096:
            raise ValueError("buffer format string too long")
        data_off = (sizeof(pt_buffer_t) + 16 * ndim + fmtlen + 1 + 15) & ~<uint64_t>15
        p = <PtBuffer>alloc_object(s, PtBuffer, ti, data_off + view.len + 1)
        b = <pt_buffer_t *>p.addr(data_off + view.len + 1)
        b.nbytes = view.len
        b.itemsize = view.itemsize
        b.ndim = ndim
        b.fmtlen = fmtlen
        b.data_off = data_off
        for i in range(ndim):
            b.dims[i] = view.shape[i] if view.shape != NULL else view.len // view.itemsize
        if ndim:
            b.dims[2 * ndim - 1] = view.itemsize
            for i in range(ndim - 2, -1, -1):
                b.dims[ndim + i] = b.dims[ndim + i + 1] * b.dims[i + 1]
        memcpy(<char *>b + sizeof(pt_buffer_t) + 16 * ndim, PyBytes_AS_STRING(fmt), fmtlen + 1)
        PyBuffer_ToContiguous(<char *>b + data_off, &view, view.len, b'C')
    finally:
        PyBuffer_Release(&view)
    return p
