"""Doctest support: put docs/ on sys.path so the examples can import their
helper modules (testHelpers).

pytest imports every conftest.py that is not inside a package as the module
named ``conftest``; the one imported last is what ``from conftest import ...``
in a test module finds.  So that the test modules find the helpers of
tests/conftest.py whichever comes last, this module offers them too."""
import os
import runpy
import sys

DOCS = os.path.dirname(os.path.abspath(__file__))
if DOCS not in sys.path:
    sys.path.insert(0, DOCS)

globals().update({name: value for name, value in
                  runpy.run_path(os.path.join(os.path.dirname(DOCS), "tests", "conftest.py")).items()
                  if not name.startswith("__")})
