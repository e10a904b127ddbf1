"""The systems we compare against, each installed into its own venv under benchmarks/.venvs/.

A peer is a workload script (``workloads_<name>.py``, run with the peer's python) plus the
recipe that makes its venv.  ``python(name)`` returns the interpreter to run the script
with, creating the venv on first use; a peer that cannot be set up raises ``PeerUnavailable``
with the reason, and the runner skips it with that message.

    python3 benchmarks/peers.py setup [NAME ...]   # create the venvs now, report each
    python3 benchmarks/peers.py list
"""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

HERE = os.path.dirname(os.path.abspath(__file__))
VENVS = os.path.join(HERE, ".venvs")
READY = ".bench-ready"  # stamp in a venv: the recipe it was made from


class PeerUnavailable(Exception):
    pass


@dataclass(frozen=True)
class Peer:
    name: str
    description: str
    # pip install steps, in order (each a list of arguments); empty: the runner's own python
    steps: tuple = ()
    check: str = ""  # python code that must run in the venv once installed
    os_packages: tuple = ()  # Debian packages the build needs
    libraries: tuple = ()  # shared libraries (names for ctypes.util.find_library) proving them
    script: str = ""  # workload script; empty while the peer has no workloads yet
    pmem: bool = False  # runs on libpmem, so PMEM_IS_PMEM_FORCE matters
    venv_name: str = ""  # the venv's directory under .venvs/ when not the peer's name

    @property
    def venv(self):
        return os.path.join(VENVS, self.venv_name or self.name) if self.steps else None

    def script_path(self):
        return os.path.join(HERE, self.script) if self.script else None


PEERS = {
    p.name: p
    for p in [
        Peer(
            "sqlite",
            "SQLite (stdlib sqlite3), WAL, synchronous=FULL",
            script="workloads_sqlite.py",
        ),
        Peer(
            "lmdb",
            "LMDB 3.0.0 (py-lmdb), sync=True",
            steps=(["lmdb==3.0.0"],),
            check="import lmdb",
            script="workloads_lmdb.py",
        ),
        Peer(
            "zodb",
            "ZODB 6.4 FileStorage + persistent + BTrees",
            steps=(["ZODB==6.4", "BTrees==6.5", "persistent==6.9", "transaction==5.1"],),
            check="import ZODB, ZODB.FileStorage, BTrees.OOBTree, persistent, transaction",
            script="workloads_zodb.py",
        ),
        Peer(
            "pynvm",
            "pynvm 0.3.1 (nvm.pmemobj) on libpmemobj",
            steps=(["pynvm==0.3.1"],),
            check="import nvm.pmemobj",
            os_packages=("libpmem-dev", "libpmemobj-dev", "libpmemlog-dev", "libpmemblk-dev"),
            libraries=("pmem", "pmemobj", "pmemlog", "pmemblk"),
            script="workloads_pynvm.py",
            pmem=True,
        ),
        Peer(
            # named apart from this project's sharedbuffers, whose package name it shares
            "sharedbuffers-1.2.3",
            "upstream sharedbuffers 1.2.3 (Cython<3 build)",
            venv_name="sharedbuffers",
            # clru's and its own setup.py import Cython (<3) at build time: no build isolation
            steps=(
                ["Cython<3", "wheel"],
                ["--no-build-isolation", "clru"],
                ["--no-build-isolation", "sharedbuffers==1.2.3"],
            ),
            check="import sharedbuffers.mapped_struct",
            script="workloads_sharedbuffers_upstream.py",
        ),
    ]
}


def _recipe(peer):
    return json.dumps({"steps": [list(s) for s in peer.steps], "python": sys.version.split()[0]})


def _missing_libraries(peer):
    import ctypes.util

    return [lib for lib in peer.libraries if ctypes.util.find_library(lib) is None]


def _install_os_packages(peer, log):
    missing = _missing_libraries(peer)
    if not missing:
        return
    line = "apt-get install -y " + " ".join(peer.os_packages)
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise PeerUnavailable("needs the OS packages %s (libraries missing: %s); run: sudo %s"
                              % (", ".join(peer.os_packages), ", ".join(missing), line))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for cmd in (["apt-get", "update", "-qq"], line.split() + ["-qq"]):
        if subprocess.run(cmd, env=env, stdout=log, stderr=subprocess.STDOUT).returncode:
            raise PeerUnavailable("could not install %s (see %s)" % (", ".join(peer.os_packages), log.name))
    missing = _missing_libraries(peer)
    if missing:
        raise PeerUnavailable("libraries still missing after installing %s: %s"
                              % (", ".join(peer.os_packages), ", ".join(missing)))


def _last_error(log_path):
    with open(log_path, errors="replace") as f:
        lines = [l.strip() for l in f if "error" in l.lower() and "is ignored" not in l]
    return lines[-1] if lines else "no error message"


def _run_check(peer, python):
    r = subprocess.run([python, "-c", peer.check], capture_output=True, text=True)
    if r.returncode:
        last = (r.stderr.strip().splitlines() or ["exit code %d" % r.returncode])[-1]
        raise PeerUnavailable("installed, but `%s` fails: %s" % (peer.check, last))


def setup(peer, base_python=None):
    """Creates (or reuses) the peer's venv and returns its python; raises PeerUnavailable."""
    if not peer.steps:
        return sys.executable
    venv = peer.venv
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, READY)
    if os.path.exists(stamp) and open(stamp).read() == _recipe(peer) and os.path.exists(python):
        return python
    os.makedirs(VENVS, exist_ok=True)
    log_path = os.path.join(VENVS, (peer.venv_name or peer.name) + "-setup.log")
    with open(log_path, "w") as log:
        _install_os_packages(peer, log)
        if not os.path.exists(python):
            cmd = [base_python or sys.executable, "-m", "venv", venv]
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise PeerUnavailable("could not create the venv %s (see %s)" % (venv, log_path))
        for step in peer.steps:
            log.write("== pip install %s\n" % " ".join(step))
            log.flush()
            cmd = [python, "-m", "pip", "install", "--disable-pip-version-check", "-q"] + list(step)
            if subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT).returncode:
                raise PeerUnavailable("`pip install %s` failed: %s (see %s)"
                                      % (" ".join(step), _last_error(log_path), log_path))
    if peer.check:
        _run_check(peer, python)
    with open(stamp, "w") as f:
        f.write(_recipe(peer))
    return python


_pythons = {}


def python(name):
    """The interpreter for peer ``name``, set up once per process; raises PeerUnavailable."""
    if name not in _pythons:
        try:
            _pythons[name] = setup(PEERS[name])
        except PeerUnavailable as e:
            _pythons[name] = e
    found = _pythons[name]
    if isinstance(found, PeerUnavailable):
        raise found
    return found


def main(argv):
    if not argv or argv[0] not in ("setup", "list"):
        sys.exit("usage: peers.py setup [NAME ...] | peers.py list")
    if argv[0] == "list":
        for p in PEERS.values():
            print("%-14s %s%s" % (p.name, p.description, "" if p.script else "  (set-up only)"))
        return 0
    names = argv[1:] or list(PEERS)
    failed = 0
    for name in names:
        if name not in PEERS:
            sys.exit("unknown peer %r (have: %s)" % (name, ", ".join(PEERS)))
        try:
            print("%-14s ready: %s" % (name, python(name)))
        except PeerUnavailable as e:
            failed += 1
            print("%-14s unavailable: %s" % (name, e))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
