"""Declarative queries over a storage (docs/ptypes_queries.rst).

Subclass :class:`Query` and name binding rules in its body::

    class DevelopersAndPrograms(Query):
        _dev = Each('developers')
        developer = NodeAttribute(_dev, 'name')
        program = FindEdge('created', fromNode=_dev).toNode.attribute('name')

    DevelopersAndPrograms(storage)()        # prints each combination

Rules are evaluated in the order they were created (each after the rules it
uses); calling the query sends each complete combination of bound values (a
QueryContext) to the generator ``processOne()``, which prints them.  Names
starting with ``_`` are left out of what is printed and of ``results()``.
"""
from ._query import (Attribute, BindingRule, Constant, Contents, Each, Equal, LookUp, NotEqual, Param,
                     QueryContext, Range, RichCompare, Variable)
from .graph import FindEdge, FindFromNode, FindToNode, NodeAttribute, NodeContents

# the rules of graphs (FindEdge, NodeAttribute, ...) are importable from here too;
# they belong to ptypes.graph
__all__ = ["Query", "QueryMeta", "QueryContext", "Variable", "BindingRule", "Each", "LookUp", "Range",
           "Constant", "Param", "Attribute", "Contents", "Equal", "NotEqual", "RichCompare"]


class QueryMeta(type):
    """Names the rules of a query class after its attributes and orders them."""

    def __new__(mcs, name, bases, ns):
        rules = set()
        parameters = []
        for key, value in ns.items():
            if isinstance(value, Variable) and not (isinstance(value, Param) and value.named):
                value.name = key
            if isinstance(value, BindingRule):
                rules.add(value)
            if isinstance(value, Param):
                parameters.append(value)
        for base in bases:
            rules.update(getattr(base, "bindingRules", ()))
            parameters.extend(getattr(base, "parameters", ()))
        ns["parameters"] = sorted(parameters, key=lambda p: p.ordinal)
        ns["parameterNames"] = {p.name for p in parameters}
        walked = set()
        for rule in rules:
            rule.walk(walked)
        order = sorted(walked, key=lambda r: r.ordinal)
        for i, rule in enumerate(order):
            rule.link(order[i - 1] if i else None, order[i + 1] if i + 1 < len(order) else None)
        ns["bindingRules"] = order
        ns["firstBindingRule"] = order[0] if order else None
        return super().__new__(mcs, name, bases, ns)


class Query(metaclass=QueryMeta):
    """Selects combinations of persistent objects and processes each one.

    ``Query(storage, **parameters)`` binds the query to a storage and gives
    its Param rules their values; calling it runs it."""

    def __init__(self, storage, **paramValues):
        missing = self.parameterNames - set(paramValues)
        unused = set(paramValues) - self.parameterNames
        if missing:
            raise TypeError(f"Uninitialised query parameters: {', '.join(sorted(missing))}")
        if unused:
            raise TypeError(f"Unused query parameters: {', '.join(sorted(unused))}")
        self.storage = storage
        self.paramValues = paramValues

    def __call__(self, context=None, callback=None):
        """Send each combination the rules select to ``callback()`` (a
        generator function; ``self.processOne`` by default)."""
        if callback is None:
            callback = self.processOne
        if context is None:
            context = QueryContext(self, callback())
        context.query = self
        context.begin()
        try:
            if self.firstBindingRule is not None:
                self.firstBindingRule.evaluate(self, context)
        finally:
            context.end()

    def results(self):
        """The combinations the rules select, as dicts of the public names."""
        found = []

        def collect():
            while True:
                found.append((yield).results())

        self(callback=collect)
        return found

    def processOne(self):
        """A generator receiving each complete QueryContext: prints a header,
        each context and a footer.  Override it in subclasses (it must stay a
        generator)."""
        print('==== Results ====')
        try:
            while True:
                print((yield))
        except GeneratorExit:
            pass
        print('---- End of results ----')
