"""Shared fixtures: pools live in a temporary directory under /dev/shm when it exists."""
import os
import shutil
import tempfile

import pytest

from support import ROOT, assert_no_signal, run_python  # noqa: F401  (re-exported for older imports)

SHM = "/dev/shm"


@pytest.fixture
def tmpdir_shm():
    base = SHM if os.path.isdir(SHM) and os.access(SHM, os.W_OK) else None
    d = tempfile.mkdtemp(prefix="pmemobj-test-", dir=base)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def pool_path(tmpdir_shm):
    """A path for a new pool file (the file does not exist yet)."""
    return os.path.join(tmpdir_shm, "test.pool")


@pytest.fixture(scope="session")
def simulator():
    """The power-loss simulator (tests/powerloss), built on first use; skips without a C compiler."""
    import powerloss
    try:
        return powerloss.library()
    except powerloss.Unavailable as e:
        pytest.skip(str(e))


# `pytest --hypothesis-profile=find`: stop at the first failing example, no shrinking
# (to time how fast a test finds a bug)
from hypothesis import Phase, settings as _settings  # noqa: E402
_settings.register_profile("find", phases=[Phase.explicit, Phase.reuse, Phase.generate])
