# The cdef API of the query engine (ptypes/_query.pyx): binding rules and the
# context they bind values in.


cdef class Variable:
    cdef public str name
    cdef readonly long ordinal


cdef class QueryContext:
    cdef public object query
    cdef public object callback
    cdef readonly dict dick              # name -> the value bound to it
    cpdef begin(self)
    cdef int do(self) except -1
    cpdef end(self)


cdef class BindingRule(Variable):
    cdef readonly BindingRule nextBindingRule
    cdef readonly BindingRule prevBindingRule
    cdef public bint shortCut
    cdef readonly set usedBindingRules
    cdef readonly set userBindingRules
    cdef int getAll(self, query, QueryContext result) except -1

    cdef inline int recurse(self, query, QueryContext result) except -1:
        """Go on with the next rule, or hand the complete context over."""
        if self.shortCut and not result.dick[self.name]:
            return 0
        if self.nextBindingRule is None:
            return result.do()
        return self.nextBindingRule.getAll(query, result)
