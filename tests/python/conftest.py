"""Helpers for tests that run the installed `pyttd` the way a user does."""

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

Runner = Callable[..., subprocess.CompletedProcess[str]]

PYTTD_SCRIPT = Path(sys.executable).parent / "pyttd"


@pytest.fixture
def run() -> Runner:
    """Run a command line; its output is captured as text, a non-zero exit is not an error."""

    def run(*argv: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(arg) for arg in argv],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NO_COLOR": "1"},
        )

    return run


@pytest.fixture
def pyttd(run: Runner) -> Runner:
    """Run the installed `pyttd` console script (the one next to this interpreter)."""
    assert PYTTD_SCRIPT.is_file(), f"no console script at {PYTTD_SCRIPT}: is the wheel installed?"

    def pyttd(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run(PYTTD_SCRIPT, *args)

    return pyttd
