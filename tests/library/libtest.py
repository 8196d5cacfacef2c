"""What the tests of the library and the Python module share.

They use tests/integration/harness.py (namespaces, no CAP_SYS_TIME, deadline,
process handling) and import the module under test from the build tree:
meson passes SHMREFCLOCK_PYTHONPATH. A module that cannot be imported is a
failure, not a skip: these tests exist to test it.
"""

import importlib
import os
import pathlib
import sys

SRCDIR = pathlib.Path(os.environ.get(
    "SHMREFCLOCK_SRCDIR", pathlib.Path(__file__).resolve().parent.parent.parent))
sys.path.insert(0, str(SRCDIR / "tests" / "integration"))

import harness  # noqa: E402
from harness import Fail  # noqa: E402


def module_env():
    """The environment a child Python needs to import the module."""
    path = os.environ.get("SHMREFCLOCK_PYTHONPATH")
    if not path:
        raise Fail("SHMREFCLOCK_PYTHONPATH is unset: the Python module was "
                   "not built (meson -Dpython=enabled needs pybind11-dev "
                   "and python3-dev)")
    env = dict(os.environ)
    env["PYTHONPATH"] = path + os.pathsep + env.get("PYTHONPATH", "")
    return env


def import_module():
    env = module_env()
    for entry in reversed(env["PYTHONPATH"].split(os.pathsep)):
        if entry and entry not in sys.path:
            sys.path.insert(0, entry)
    try:
        return importlib.import_module("shmrefclock")
    except ImportError as err:
        raise Fail(f"cannot import shmrefclock from "
                   f"{os.environ['SHMREFCLOCK_PYTHONPATH']}: {err}") from None
