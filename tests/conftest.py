"""Test-suite configuration.

Shared data generators and helpers live in ``tests/_data.py``.

A watchdog turns a hung test into a hard failure with a traceback: jitted code
holds the GIL, so a kernel that never returns would otherwise stall the whole
run (CI included) without a word. After ``LEARNED_INDEX_TEST_TIMEOUT`` seconds
in one test (default 600; 0 disables) the Python stacks are printed to the real
stderr and the run exits with status 1.

A run on several workers (``pytest -n 2``, as ``make test`` does) first fills
the numba cache in two processes of its own (``tests/_warm.py``), so that the
workers load the compiled kernels instead of both compiling the same ones:
on a fresh clone of this 2-core machine that took about 7 of the suite's
13 minutes, and it takes seconds once the cache is filled.
``LEARNED_INDEX_TEST_WARM=0`` skips it.
"""
import faulthandler
import os
import subprocess
import sys
import time

import pytest

TEST_TIMEOUT = float(os.environ.get("LEARNED_INDEX_TEST_TIMEOUT", "600"))
WARM = os.environ.get("LEARNED_INDEX_TEST_WARM", "1") != "0"
#: seconds the warm-up may take in all (it takes about 400 on a fresh clone)
WARM_TIMEOUT = 1200
#: the warm-up's processes and their tasks (see ``tests/_warm.py``), split so that both
#: take about as long cold: an ``index`` task compiles for about 95 s, a ``bptree`` one 35 s
WARM_TASKS = (("index:uint64", "index:int64", "index:float64", "bptree:uint64"),
              ("index:uint32", "index:int32", "bptree:int64", "bptree:float64",
               "bptree:uint32", "bptree:int32"))


def pytest_sessionstart(session):
    """Fill the numba cache before the workers of a distributed run start."""
    config = session.config
    if not WARM or hasattr(config, "workerinput") or not getattr(config.option, "numprocesses", 0):
        return
    report = config.pluginmanager.get_plugin("terminalreporter")
    say = report.write_line if report is not None else print
    say(f"filling the numba cache in {len(WARM_TASKS)} processes (minutes on a fresh clone) ...")
    script = os.path.join(os.path.dirname(__file__), "_warm.py")
    start = time.perf_counter()
    procs = [subprocess.Popen([sys.executable, script, *tasks], stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True) for tasks in WARM_TASKS]
    for proc in procs:
        left = WARM_TIMEOUT - (time.perf_counter() - start)
        try:
            _, err = proc.communicate(timeout=max(left, 1.0))
        except subprocess.TimeoutExpired:   # the tests compile what is missing, as without it
            proc.kill()
            _, err = proc.communicate()
        if proc.returncode:         # the tests will show what is wrong; say what failed here
            say(f"warm-up {proc.args[2:]} exited with {proc.returncode}: "
                f"{err.strip().splitlines()[-1:] or ''}")
    say(f"numba cache filled in {time.perf_counter() - start:.0f} s")


def _real_stderr_fd(config):
    """stderr as the terminal sees it, not pytest's capture file."""
    capman = config.pluginmanager.getplugin("capturemanager")
    try:
        return capman._global_capturing.err.targetfd_save
    except AttributeError:          # capture disabled (-s) or another pytest layout
        return sys.__stderr__.fileno()


@pytest.fixture(autouse=True)
def _watchdog(request):
    if TEST_TIMEOUT <= 0:
        yield
        return
    faulthandler.dump_traceback_later(TEST_TIMEOUT, exit=True, file=_real_stderr_fd(request.config))
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()
