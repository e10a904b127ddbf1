"""Peer workloads: upstream sharedbuffers 1.2.3, run with the python of its own venv.

Upstream's API for these workloads (``Schema.from_typed_slots``, ``MappedArrayProxyBase`` /
``MappedMappingProxyBase`` with ``StringIdMapper``, ``build(..., destfile=<file object>)``,
``map_file(<file object>)``) is the one workloads_sharedbuffers.py uses, so this script runs
that body against upstream's package; differences of the Python 2 era are adapted here.

    benchmarks/.venvs/sharedbuffers/bin/python benchmarks/workloads_sharedbuffers_upstream.py WORKLOAD
"""

import sys

import sharedbuffers

import workloads_sharedbuffers as w
from common import main

# upstream has no __version__; name the release in the results
w.MODE = dict(w.MODE, sharedbuffers="1.2.3", module=sharedbuffers.__file__)

if __name__ == "__main__":
    sys.exit(main("sharedbuffers-1.2.3", w.WORKLOADS))
