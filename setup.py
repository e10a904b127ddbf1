"""Build the Cython extension modules of pmemobj, ptypes and sharedbuffers.

Every ``.pyx`` file under the three packages becomes an extension module.  The
modules link against the system's libpmemobj, found through pkg-config.
Set ``PMEMOBJ_BUILD_ONLY=pattern[,pattern]`` to build only the modules whose
dotted name matches one of the fnmatch patterns (``sharedbuffers.*``,
``pmemobj.collections.*``, ``pmemobj._core``): handy while working on one layer.
"""
import os
import shlex
import subprocess
import sys
from fnmatch import fnmatch
from glob import glob

from setuptools import Extension, setup

PACKAGES = ("pmemobj", "ptypes", "sharedbuffers")
HERE = os.path.dirname(os.path.abspath(__file__))
MISSING = ("libpmemobj (or libxxhash) was not found by pkg-config: install it first "
           "(Debian/Ubuntu: sudo apt-get install -y libpmemobj-dev libxxhash-dev pkg-config)")


def pkg_config(*args):
    try:
        out = subprocess.run(["pkg-config", *args, "libpmemobj", "libpmem", "libxxhash"],
                             check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        sys.exit(MISSING)
    return shlex.split(out)


def libpmemobj_version():
    out = subprocess.run(["pkg-config", "--modversion", "libpmemobj"], capture_output=True, text=True).stdout
    return out.strip() or "unknown"


def extensions():
    cflags, libs = pkg_config("--cflags"), pkg_config("--libs")
    # the core checks libpmemobj's own metadata only for the versions whose format it knows
    version = [("PYP_LIBPMEMOBJ_VERSION", '"%s"' % libpmemobj_version())]
    only = [p for p in os.environ.get("PMEMOBJ_BUILD_ONLY", "").split(",") if p]
    exts = []
    for pkg in PACKAGES:
        for pyx in sorted(glob(os.path.join(pkg, "**", "*.pyx"), recursive=True)):
            name = pyx[:-4].replace(os.sep, ".")
            if only and not any(fnmatch(name, pat) for pat in only):
                continue
            exts.append(Extension(
                name, [pyx],
                include_dirs=[os.path.join(HERE, "include")],
                define_macros=version,
                extra_compile_args=cflags + ["-O2", "-Wno-unused-function"],
                extra_link_args=libs,
            ))
    return exts


def cythonized():
    from Cython.Build import cythonize
    return cythonize(
        extensions(),
        compiler_directives={"language_level": 3, "embedsignature": True},
        nthreads=os.cpu_count() or 1,
    )


setup(ext_modules=cythonized())
