"""How ``python -m pmemobj`` shows sharedbuffers objects kept in a pool (a
packed struct, array or mapping in a PooledBuffer): the sharedbuffers
:class:`~pmemobj.inspectors.Inspector`, declared as an entry point of group
``pmemobj.inspectors`` in pyproject.toml and registered when the pool-backed
part of sharedbuffers is imported."""
import pkgutil

from pmemobj import UnknownClassError
from pmemobj.inspectors import Inspector, cut, short

from ._pooled import PooledBuffer
from ._structs import StructProxy


def _class_name(proxy_type):
    return proxy_type.replace(":", ".", 1)


def _proxy(value):
    """The mapped object of the PooledBuffer *value*; UnknownClassError (not
    damage) when the class that reads it cannot be imported here."""
    try:
        return value.proxy
    except TypeError:
        try:
            pkgutil.resolve_name(value.proxy_type)
        except (ImportError, AttributeError, ValueError) as e:
            raise UnknownClassError(value.proxy_type, str(e)) from None
        raise


def _struct_repr(proxy):
    """repr() of a struct proxy, named for its struct ("Point(x=1, ...)", not "PointProxy(...)")."""
    r = repr(proxy)
    name = type(proxy).__name__
    return r[:len(name) - len("Proxy")] + r[len(name):] if name.endswith("Proxy") and r.startswith(name) else r


class SharedbuffersInspector(Inspector):

    def describe(self, value):
        if isinstance(value, PooledBuffer):
            kind = value.kind
            size = f"{value.nbytes} bytes"
            if kind != "struct":
                try:
                    size = f"{len(value.proxy)} items, {size}"
                except (TypeError, ValueError):        # shown by the walk below it
                    pass
            return f"{_class_name(value.proxy_type)} (sharedbuffers {kind}, {size}) @0x{value._p_oid[1]:x}"
        if isinstance(value, StructProxy):
            return cut(_struct_repr(value))
        return None

    def children(self, value):
        if isinstance(value, PooledBuffer):
            proxy = _proxy(value)
            if value.kind == "array":
                return ((f"[{i}]", proxy[i]) for i in range(len(proxy)))
            if value.kind == "mapping":
                return ((short(k), v) for k, v in proxy.items())
            return self.children(proxy)
        if isinstance(value, StructProxy):
            text = _struct_repr(value)
            if cut(text) == text:
                return iter(())             # all of it is on its line
            return ((f".{k}", v) for k, v in value._asdict().items())
        return None


inspector = SharedbuffersInspector()
