"""Test-suite configuration.

Shared data generators and helpers live in ``tests/_data.py``.

A watchdog turns a hung test into a hard failure with a traceback: jitted code
holds the GIL, so a kernel that never returns would otherwise stall the whole
run (CI included) without a word. After ``LEARNED_INDEX_TEST_TIMEOUT`` seconds
in one test (default 600; 0 disables) the Python stacks are printed to the real
stderr and the run exits with status 1.
"""
import faulthandler
import os
import sys

import pytest

TEST_TIMEOUT = float(os.environ.get("LEARNED_INDEX_TEST_TIMEOUT", "600"))


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
