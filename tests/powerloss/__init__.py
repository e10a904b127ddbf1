"""Simulated power loss at every flush.

A SIGKILL leaves the page cache intact, so it cannot show a write that was
never flushed.  ``simulator.c`` (see its header) is loaded with LD_PRELOAD
into one child process and keeps a shadow file holding what the medium
would hold: a page reaches it only when the file's flushes (msync, fsync)
say so, and power can fail at any of them, with only part of that flush
done.

- ``library()`` builds the simulator with the system's C compiler (cached
  under build/ by the source's hash) and returns the path of the library.
- ``workload`` is the child whose power fails, ``checker`` the fresh process
  that checks what the medium holds, ``campaign`` drives both.
"""
import hashlib
import os
import shlex
import shutil
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = os.path.join(HERE, "simulator.c")
CACHE = os.path.join(os.path.dirname(os.path.dirname(HERE)), "build", "powerloss")
POWER_LOST = 113        # the exit status of a child whose power failed (simulator.c)


class Unavailable(RuntimeError):
    """No C compiler to build the simulator with."""


def library():
    """The path of the compiled simulator, built on first use."""
    with open(SOURCE, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()[:16]
    path = os.path.join(CACHE, f"simulator-{digest}.so")
    if os.path.exists(path):
        return path
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not cc:
        raise Unavailable("no C compiler (cc, gcc or $CC) to build tests/powerloss/simulator.c")
    os.makedirs(CACHE, exist_ok=True)
    tmp = f"{path}.{os.getpid()}.tmp"
    proc = subprocess.run([*shlex.split(cc), "-O2", "-Wall", "-shared", "-fPIC", "-o", tmp, SOURCE, "-ldl"],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{cc} could not build the power-loss simulator:\n{proc.stderr}")
    os.replace(tmp, path)           # atomic: parallel builds of the same source agree
    return path


def environment(file, shadow, cut=None, p=0.0, seed=0, images=None, at="all", record=None, count=None,
                drop=None):
    """The environment variables that make the simulator watch *file* (see simulator.c)."""
    env = {"LD_PRELOAD": library(), "PWRLOSS_FILE": file, "PWRLOSS_SHADOW": shadow,
           "PWRLOSS_P": repr(float(p)), "PWRLOSS_SEED": str(seed)}
    for name, value in (("PWRLOSS_CUT", cut), ("PWRLOSS_IMAGES", images), ("PWRLOSS_RECORD", record),
                        ("PWRLOSS_COUNT", count), ("PWRLOSS_DROP", drop)):
        if value is not None:
            env[name] = str(value)
    if images is not None:
        env["PWRLOSS_AT"] = at if isinstance(at, str) else ",".join(map(str, sorted(at)))
    return env
