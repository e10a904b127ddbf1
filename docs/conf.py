"""Sphinx configuration of the pmemobj-py documentation (``make docs``)."""
import os
import sys

# document the in-place build of the packages (python3 setup.py build_ext --inplace)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

project = "pmemobj-py"
author = "the pmemobj-py authors"
copyright = "the pmemobj-py authors"
release = version = "0.1.0"

extensions = ["sphinx.ext.autodoc", "myst_parser"]   # myst: the measured pages are Markdown
source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
autodoc_member_order = "bysource"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_typehints = "none"          # the signatures come from the compiled modules; types are in the .pyi stubs

exclude_patterns = ["_build"]
html_theme = "alabaster"
html_static_path = []
