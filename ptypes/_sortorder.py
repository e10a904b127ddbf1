"""Sort orders of skip lists, kept as data.

A skip list's schema stores its sort key as paths of field names
(``[["contents", "name"]]``), never as code: opening a storage runs nothing
it holds.  The user gives the sort key as an ``operator.attrgetter`` or, as
the original ptypes did, as a snippet of Python text defining
``getKeyFromValue``; the snippet is parsed, not run, and must be one of::

    from operator import attrgetter
    getKeyFromValue = attrgetter('age')                    # or 'contents.name', or several
    getKeyFromValue = lambda agent: agent.age              # or a tuple of attribute chains
"""
import ast
import operator

__all__ = ["sort_key_paths"]

_ACCEPTED = ("a sort order is kept as data: give operator.attrgetter('field', 'other.field') or a "
             "snippet assigning getKeyFromValue = attrgetter(...) or = lambda item: item.field "
             "(or a tuple of such chains)")


def sort_key_paths(order, listname):
    """The paths of field names a sort order names (``[]``: none given)."""
    if order is None:
        return []
    if isinstance(order, operator.attrgetter):
        _, names = order.__reduce__()
        return [_path(name, listname) for name in names]
    if isinstance(order, str):
        return _parse_snippet(order, listname)
    raise TypeError(f"the sort order of {listname} is a {type(order).__name__}: {_ACCEPTED}")


def _path(dotted, listname):
    parts = dotted.split(".")
    if not all(p.isidentifier() for p in parts):
        raise TypeError(f"the sort key {dotted!r} of {listname} is not a chain of field names")
    return parts


def _parse_snippet(text, listname):
    try:
        tree = ast.parse(text)
    except SyntaxError as e:
        raise TypeError(f"the sort order of {listname} is not valid Python: {e}") from None
    paths = None
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module == "operator" and \
                all(a.name == "attrgetter" and a.asname is None for a in node.names):
            continue
        if isinstance(node, ast.Import) and all(a.name == "operator" and a.asname is None for a in node.names):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant) and isinstance(node.value.value, str):
            continue            # a docstring
        targets = [t.id for t in getattr(node, "targets", ()) if isinstance(t, ast.Name)]
        if isinstance(node, ast.Assign) and targets == ["getKeyFromValue"]:
            paths = _key_expression(node.value, listname)
            continue
        if "compare" in targets or isinstance(node, ast.FunctionDef) and node.name == "compare":
            raise TypeError(f"the sort order of {listname} defines compare(): comparison functions are "
                            f"code, which a storage does not keep; {_ACCEPTED}")
        raise TypeError(f"the sort order of {listname} holds a statement that is not a sort key "
                        f"(line {node.lineno}): {_ACCEPTED}")
    if paths is None:
        raise TypeError(f"the sort order of {listname} does not assign getKeyFromValue: {_ACCEPTED}")
    return paths


def _key_expression(expr, listname):
    if isinstance(expr, ast.Call) and not expr.keywords and expr.args and \
            (isinstance(expr.func, ast.Name) and expr.func.id == "attrgetter" or
             isinstance(expr.func, ast.Attribute) and expr.func.attr == "attrgetter" and
             isinstance(expr.func.value, ast.Name) and expr.func.value.id == "operator") and \
            all(isinstance(a, ast.Constant) and isinstance(a.value, str) for a in expr.args):
        return [_path(a.value, listname) for a in expr.args]
    if isinstance(expr, ast.Lambda) and len(expr.args.args) == 1 and not (
            expr.args.vararg or expr.args.kwarg or expr.args.kwonlyargs or expr.args.posonlyargs):
        arg = expr.args.args[0].arg
        body = expr.body.elts if isinstance(expr.body, ast.Tuple) else [expr.body]
        return [_chain(e, arg, listname) for e in body]
    raise TypeError(f"getKeyFromValue of {listname} is not a chain of field names: {_ACCEPTED}")


def _chain(expr, arg, listname):
    names = []
    while isinstance(expr, ast.Attribute):
        names.append(expr.attr)
        expr = expr.value
    if not names or not (isinstance(expr, ast.Name) and expr.id == arg):
        raise TypeError(f"getKeyFromValue of {listname} is not a chain of field names: {_ACCEPTED}")
    return names[::-1]
