# Reading values back: object values, sequences, dicts, dates, decimals,
# buffers and arrays (included by _structs.pyx).  Every size and offset is
# checked against the buffer before it is followed.

cdef class proxied_list
cdef class proxied_tuple
cdef class proxied_frozenset
cdef class proxied_dict

cdef dict _tz_cache = {}


cdef object tz_for_offset(int minutes):
    """A fixed-offset time zone named as upstream names it (UTC, UTC+3, UTC-3:30)."""
    tz = _tz_cache.get(minutes)
    if tz is None:
        if minutes:
            name = "UTC%+d" % (int(minutes / 60),)
            if minutes % 60:
                name = "%s:%02d" % (name, abs(minutes) % 60)
            tz = _dt.timezone(_timedelta(minutes=minutes), name)
        else:
            tz = _UTC
        _tz_cache[minutes] = tz
    return tz


cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    struct tm:
        int tm_sec
        int tm_min
        int tm_hour
        int tm_mday
        int tm_mon
        int tm_year
    tm *localtime_r(const time_t *timep, tm *result)


cdef inline void civil_from_days(int64_t z, int64_t *y, int *m, int *d) noexcept nogil:
    """The proleptic Gregorian date of day z since 1970-01-01 (the days-from-civil
    inverse: eras of 400 years, years starting in March)."""
    cdef int64_t era, doe, yoe, doy, mp
    z += 719468
    era = (z if z >= 0 else z - 146096) // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d[0] = <int>(doy - (153 * mp + 2) // 5 + 1)
    m[0] = <int>(mp + 3 if mp < 10 else mp - 9)
    y[0] = yoe + era * 400 + (1 if m[0] <= 2 else 0)


cdef inline int64_t floor_div(int64_t a, int64_t b, int64_t *rem) noexcept nogil:
    cdef int64_t q = a // b, r = a % b          # C division truncates: floor it
    if r < 0:
        r += b
        q -= 1
    rem[0] = r
    return q


cdef object out_of_range(int64_t us):
    return CorruptedBufferError(f"corrupted buffer: datetime of {us} microseconds is out of range")


cdef object micros_to_datetime(int64_t us, object tz):
    """The datetime us microseconds after the epoch, in wall-clock time of a zone
    whose offset is already added (tz: its tzinfo, or None)."""
    cdef int64_t rem, secs = floor_div(us, 1000000, &rem), sod, y
    cdef int64_t days = floor_div(secs, 86400, &sod)
    cdef int m, d
    civil_from_days(days, &y, &m, &d)
    if y < 1 or y > 9999:
        raise out_of_range(us)
    return datetime_new(<int>y, m, d, <int>(sod // 3600), <int>(sod // 60 % 60), <int>(sod % 60), <int>rem, tz)


cdef object micros_to_utc(int64_t us):
    return micros_to_datetime(us, _UTC)


cdef object micros_to_naive_local(int64_t us):
    cdef int64_t rem, secs = floor_div(us, 1000000, &rem)
    cdef time_t t = <time_t>secs
    cdef tm parts
    if secs < -62135596800 or secs > 253402300799 or localtime_r(&t, &parts) == NULL:
        raise out_of_range(us)
    if parts.tm_year + 1900 < 1 or parts.tm_year + 1900 > 9999:
        raise out_of_range(us)
    return datetime_new(parts.tm_year + 1900, parts.tm_mon + 1, parts.tm_mday, parts.tm_hour, parts.tm_min,
                        min(parts.tm_sec, 59), <int>rem, None)


cdef object load_datetime_tz(const char *p):
    cdef int64_t us
    cdef int16_t off
    memcpy(&us, p, 8)
    memcpy(&off, p + 8, 2)
    if off <= -24 * 60 or off >= 24 * 60 or us > 0x7FFFFFFFFFFFFFFF - 24 * 3600 * 1000000 \
            or us < -0x7FFFFFFFFFFFFFFF + 24 * 3600 * 1000000:
        raise CorruptedBufferError(f"corrupted buffer: datetime {us} with a UTC offset of {off} minutes")
    return micros_to_datetime(us + <int64_t>off * 60000000, tz_for_offset(off))


cdef object load_date(const char *p):
    cdef int32_t n
    cdef int64_t y
    cdef int m, d
    memcpy(&n, p, 4)
    if n < 1 or n > 3652059:
        raise CorruptedBufferError(f"corrupted buffer: date ordinal {n} is out of range")
    civil_from_days(<int64_t>n - 719163, &y, &m, &d)      # ordinal 719163 is 1970-01-01
    return date_new(<int>y, m, d)


cdef object load_fixed(int kind, const char *p):
    """The value of the inline field of a fixed-size slot kind at p."""
    cdef double d
    cdef float f
    cdef int64_t i64
    if kind == SB_KIND_INT:
        return load_i64(p)
    if kind == SB_KIND_FLOAT:
        memcpy(&d, p, 8)
        return d
    if kind == SB_KIND_BOOL:
        return p[0] != 0
    if kind == SB_KIND_U8:
        return (<const uint8_t *>p)[0]
    if kind == SB_KIND_I8:
        return (<const int8_t *>p)[0]
    if kind == SB_KIND_U16:
        return (<uint16_t>(<const uint8_t *>p)[0]) | (<uint16_t>(<const uint8_t *>p)[1] << 8)
    if kind == SB_KIND_I16:
        return <int16_t>((<uint16_t>(<const uint8_t *>p)[0]) | (<uint16_t>(<const uint8_t *>p)[1] << 8))
    if kind == SB_KIND_U32:
        return <uint32_t>load_uw(p, 4)
    if kind == SB_KIND_I32:
        return <int32_t><uint32_t>load_uw(p, 4)
    if kind == SB_KIND_U64:
        return load_u64(p)
    if kind == SB_KIND_F32:
        memcpy(&f, p, 4)
        return f
    if kind == SB_KIND_DATETIME:
        return micros_to_naive_local(load_i64(p))
    if kind == SB_KIND_DATETIME_UTC:
        return micros_to_utc(load_i64(p))
    if kind == SB_KIND_DATETIME_LOCAL:
        return micros_to_utc(load_i64(p)).astimezone()
    if kind == SB_KIND_DATETIME_TZ or kind == SB_KIND_DATETIME_TZ_LOCAL:
        return load_datetime_tz(p)
    if kind == SB_KIND_DATE:
        return load_date(p)
    raise AssertionError(f"not a fixed-size slot kind: {kind}")


cdef object read_blob(BufferRef b, Py_ssize_t pos, bint text):
    cdef Py_ssize_t n = read_size(b, &pos)
    cdef const char *p = at(b, pos, n)
    if text:
        return PyUnicode_DecodeUTF8(p, n, "surrogatepass")
    return PyBytes_FromStringAndSize(p, n)


cdef object read_decimal(BufferRef b, Py_ssize_t pos):
    cdef Py_ssize_t n = read_size(b, &pos)
    cdef const char *p = at(b, pos, n)
    try:
        return _Decimal(PyBytes_FromStringAndSize(p, n).decode("ascii"))
    except (ValueError, ArithmeticError):
        raise CorruptedBufferError(f"corrupted buffer: no decimal at position {pos}") from None


cdef object buffer_region(BufferRef b, Py_ssize_t pos, Py_ssize_t n):
    """A read-only memoryview of bytes [pos, pos+n) of b: zero-copy when the
    owner is a buffer of fixed address (not pool-backed memory)."""
    at(b, pos, n)
    if not b.dynamic:
        try:
            return memoryview(b.owner)[pos:pos + n].toreadonly()
        except TypeError:
            pass
    return memoryview(PyBytes_FromStringAndSize(at(b, pos, n), n))


cdef object read_buffer(BufferRef b, Py_ssize_t pos):
    cdef uint64_t n = load_u64(at(b, pos, 8))
    if n > <uint64_t>b.size:
        raise_bounds(b, pos + 8, <Py_ssize_t>(n & 0x7FFFFFFFFFFFFFFF))
    return buffer_region(b, pos + 8, <Py_ssize_t>n)


cdef dict _dtypes = {}      # descriptor bytes -> numpy dtype (parsing one costs microseconds)


cdef object dtype_of(bytes descr, Py_ssize_t pos):
    dtype = _dtypes.get(descr)
    if dtype is not None:
        return dtype
    np = numpy_module()
    try:
        text = descr.decode("ascii")
        if text.startswith("["):
            import ast
            dtype = np.lib.format.descr_to_dtype(ast.literal_eval(text))
        else:
            dtype = np.dtype(text)
    except Exception:
        raise CorruptedBufferError(f"corrupted buffer: no ndarray dtype at position {pos}") from None
    if dtype.hasobject:
        raise CorruptedBufferError(f"corrupted buffer: ndarray of objects at position {pos}")
    if len(_dtypes) < 4096:
        _dtypes[descr] = dtype
    return dtype


cdef bytes _last_descr = b""     # the last descriptor read, and its dtype: arrays of a
cdef object _last_dtype = None  # slot usually share one, so most reads skip the dict


cdef object read_ndarray(BufferRef b, Py_ssize_t pos):
    global _last_descr, _last_dtype
    cdef Py_ssize_t n = read_size(b, &pos), i
    cdef const char *p = at(b, pos, n)
    cdef uint8_t ndim
    cdef uint64_t dim, nbytes, total = 1, itemsize
    if n == PyBytes_GET_SIZE(_last_descr) and memcmp(p, PyBytes_AS_STRING(_last_descr), n) == 0:
        dtype = _last_dtype
    else:
        descr = PyBytes_FromStringAndSize(p, n)
        dtype = dtype_of(descr, pos)
        _last_descr, _last_dtype = descr, dtype
    itemsize = dtype.itemsize
    pos += n
    ndim = <uint8_t>at(b, pos, 1)[0]
    pos += 1
    if ndim > 32:
        raise CorruptedBufferError(f"corrupted buffer: ndarray of {ndim} dimensions")
    shape = PyTuple_New(ndim)
    for i in range(ndim):
        dim = load_u64(at(b, pos, 8))
        pos += 8
        # every dimension, and their product, within the buffer's size (so no
        # overflow below; an array of zero-size items is limited alike)
        if dim > <uint64_t>b.size or (dim and total > <uint64_t>b.size // dim):
            raise CorruptedBufferError(f"corrupted buffer: ndarray shape at position {pos - 8}")
        total *= dim
        item = <Py_ssize_t>dim
        Py_INCREF(item)
        PyTuple_SET_ITEM(shape, i, item)
    nbytes = load_u64(at(b, pos, 8))
    pos += 8
    if nbytes != total * itemsize:
        raise CorruptedBufferError(f"corrupted buffer: ndarray of {nbytes} bytes for shape {shape}")
    at(b, pos, <Py_ssize_t>nbytes)
    if itemsize == 0 or nbytes == 0:
        return numpy_module().zeros(shape, dtype)
    if b.dynamic:
        return numpy_module().frombuffer(buffer_region(b, pos, <Py_ssize_t>nbytes), dtype).reshape(shape)
    try:
        return _np.ndarray(shape, dtype, b.owner, pos)      # over the mapping: no copy
    except TypeError:
        return numpy_module().frombuffer(buffer_region(b, pos, <Py_ssize_t>nbytes), dtype).reshape(shape)


cdef int seq_header(BufferRef b, Py_ssize_t pos, Py_ssize_t *n, char *ik, Py_ssize_t *table) except -1:
    """Size, item kind and items' position of the sequence at pos (checked)."""
    cdef int width
    n[0] = read_size(b, &pos)
    ik[0] = at(b, pos, 1)[0]
    pos += 1
    width = seq_width(ik[0])
    if not width:
        raise CorruptedBufferError(f"corrupted buffer: unknown item kind {ik[0]} at position {pos - 1}")
    if n[0] > b.size // width:
        raise_bounds(b, pos, n[0])
    at(b, pos, width * n[0])
    table[0] = pos
    return 0


cdef inline object seq_item(BufferRef b, Py_ssize_t start, char ik, Py_ssize_t table, Py_ssize_t i,
                            int depth, StructProxy into):
    cdef double d
    cdef int width
    if ik == SB_SEQ_OBJECT:
        return read_object_into(b, add_rel(start, load_i64(at(b, table + 8 * i, 8))), depth + 1, into)
    if ik == SB_SEQ_FLOAT:
        memcpy(&d, at(b, table + 8 * i, 8), 8)
        return d
    width = seq_width(ik)
    return load_int_item(at(b, table + width * i, width), ik, 0)


cdef object read_seq(BufferRef b, Py_ssize_t pos, int kind, int depth):
    """A sequence as a new tuple, list or frozenset."""
    cdef Py_ssize_t n, i, table
    cdef char ik
    if depth > MAX_DEPTH:
        raise CorruptedBufferError("corrupted buffer: values nested too deeply")
    seq_header(b, pos, &n, &ik, &table)
    out = PyTuple_New(n) if kind == SB_KIND_TUPLE else PyList_New(n)
    for i in range(n):
        item = seq_item(b, pos, ik, table, i, depth, None)
        Py_INCREF(item)
        if kind == SB_KIND_TUPLE:
            PyTuple_SET_ITEM(out, i, item)
        else:
            PyList_SET_ITEM(out, i, item)
    if kind == SB_KIND_FROZENSET:
        try:
            return frozenset(out)
        except TypeError:
            raise CorruptedBufferError("corrupted buffer: unhashable item in a frozenset") from None
    return out


cdef object read_dict(BufferRef b, Py_ssize_t pos, int depth):
    """A dict as a new dict."""
    cdef proxied_dict d = new_proxied_dict(b, pos, depth)
    try:
        return dict(zip(d._keys.to_list(), d._values.to_list()))
    except TypeError:
        raise CorruptedBufferError("corrupted buffer: unhashable key in a dict") from None


cdef object read_object(BufferRef b, Py_ssize_t pos, int depth):
    return read_object_into(b, pos, depth, None)


cdef object read_object_into(BufferRef b, Py_ssize_t pos, int depth, StructProxy into):
    """The object value at pos; a struct of into's schema rebinds into."""
    cdef char tc = at(b, pos, 1)[0]
    cdef double d
    cdef float f
    cdef Schema s
    pos += 1
    if tc == SB_TC_I8:
        return (<const int8_t *>at(b, pos, 1))[0]
    if tc == SB_TC_STR:
        return read_blob(b, pos, True)
    if tc == SB_TC_INT:
        return load_i64(at(b, pos, 8))
    if tc == SB_TC_NONE:
        return None
    if tc == SB_TC_BOOL:
        return at(b, pos, 1)[0] != 0
    if tc == SB_TC_FLOAT:
        memcpy(&d, at(b, pos, 8), 8)
        return d
    if tc == SB_TC_U8:
        return (<const uint8_t *>at(b, pos, 1))[0]
    if tc == SB_TC_I16:
        return load_fixed(SB_KIND_I16, at(b, pos, 2))
    if tc == SB_TC_U16:
        return load_fixed(SB_KIND_U16, at(b, pos, 2))
    if tc == SB_TC_I32:
        return <int32_t><uint32_t>load_uw(at(b, pos, 4), 4)
    if tc == SB_TC_U32:
        return <uint32_t>load_uw(at(b, pos, 4), 4)
    if tc == SB_TC_U64:
        return load_u64(at(b, pos, 8))
    if tc == SB_TC_FLOAT32:
        memcpy(&f, at(b, pos, 4), 4)
        return f
    if tc == SB_TC_BYTES:
        return read_blob(b, pos, False)
    if depth > MAX_DEPTH:
        raise CorruptedBufferError("corrupted buffer: values nested too deeply")
    if tc == SB_TC_TUPLE:
        return read_seq(b, pos, SB_KIND_TUPLE, depth + 1)
    if tc == SB_TC_LIST:
        return read_seq(b, pos, SB_KIND_LIST, depth + 1)
    if tc == SB_TC_FROZENSET:
        return read_seq(b, pos, SB_KIND_FROZENSET, depth + 1)
    if tc == SB_TC_DICT:
        return read_dict(b, pos, depth + 1)
    if tc == SB_TC_DATETIME:
        return micros_to_naive_local(load_i64(at(b, pos, 8)))
    if tc == SB_TC_DATETIME_TZ:
        return load_datetime_tz(at(b, pos, 10))
    if tc == SB_TC_DATE:
        return load_date(at(b, pos, 4))
    if tc == SB_TC_DECIMAL:
        return read_decimal(b, pos)
    if tc == SB_TC_BUFFER:
        return read_buffer(b, pos)
    if tc == SB_TC_NDARRAY:
        return read_ndarray(b, pos)
    if tc == SB_TC_PLIST:
        return new_proxied_seq(proxied_list, b, pos, depth + 1)
    if tc == SB_TC_PTUPLE:
        return new_proxied_seq(proxied_tuple, b, pos, depth + 1)
    if tc == SB_TC_PFROZENSET:
        return new_proxied_seq(proxied_frozenset, b, pos, depth + 1)
    if tc == SB_TC_PDICT:
        return new_proxied_dict(b, pos, depth + 1)
    if tc == SB_TC_BIGINT:
        return int.from_bytes(read_blob(b, pos, False), "little", signed=True)
    s = _by_code[<uint8_t>tc]
    if s is None:
        raise CorruptedBufferError(
            f"unknown typecode {bytes([<uint8_t>tc])!r} at position {pos - 1} "
            f"(corrupted buffer, or a struct type not registered in this process)")
    if into is not None and (into._schema is s or into._schema is None):
        return make_proxy(s, b, pos, into)
    return make_proxy(s, b, pos, None)


cdef object read_typed(int kind, Schema child, BufferRef b, Py_ssize_t pos, int depth):
    if kind == SB_KIND_BYTES:
        return read_blob(b, pos, False)
    if kind == SB_KIND_STR:
        return read_blob(b, pos, True)
    if kind == SB_KIND_OBJECT:
        return read_object(b, pos, depth)
    if kind == SB_KIND_STRUCT:
        return make_proxy(child, b, pos, None)
    if kind == SB_KIND_TUPLE or kind == SB_KIND_LIST or kind == SB_KIND_FROZENSET:
        return read_seq(b, pos, kind, depth)
    if kind == SB_KIND_DICT:
        return read_dict(b, pos, depth)
    if kind == SB_KIND_PLIST:
        return new_proxied_seq(proxied_list, b, pos, depth)
    if kind == SB_KIND_PTUPLE:
        return new_proxied_seq(proxied_tuple, b, pos, depth)
    if kind == SB_KIND_PFROZENSET:
        return new_proxied_seq(proxied_frozenset, b, pos, depth)
    if kind == SB_KIND_PDICT:
        return new_proxied_dict(b, pos, depth)
    if kind == SB_KIND_DECIMAL:
        return read_decimal(b, pos)
    if kind == SB_KIND_BUFFER:
        return read_buffer(b, pos)
    if kind == SB_KIND_NDARRAY:
        return read_ndarray(b, pos)
    return load_fixed(kind, at(b, pos, fixed_width(kind)))
