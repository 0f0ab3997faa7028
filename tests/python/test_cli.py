"""The `pyttd` command line as installed from the wheel."""

import platform
import sys


def test_help_lists_doctor(pyttd):
    result = pyttd("--help")
    assert result.returncode == 0, result.stderr
    assert "Usage: pyttd <COMMAND>" in result.stdout
    assert "doctor" in result.stdout
    assert result.stderr == ""


def test_version(pyttd):
    result = pyttd("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pyttd 0.1.0\n"


def test_python_dash_m_version(run):
    result = run(sys.executable, "-m", "pyttd", "--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "pyttd 0.1.0\n"


def test_python_dash_m_usage_names_pyttd(run):
    result = run(sys.executable, "-m", "pyttd", "nosuchcmd")
    assert result.returncode == 2
    assert "Usage: pyttd <COMMAND>" in result.stderr


def test_package_version_matches_cli():
    import pyttd

    assert pyttd.__version__ == "0.1.0"


def test_doctor_reports_python_and_format(pyttd):
    result = pyttd("doctor")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "pyttd          0.1.0" in lines
    assert f"python         {platform.python_version()}" in lines
    assert "native module  pyttd._native loaded" in lines
    assert "trace format   5.0" in lines
    assert result.stderr == ""


def test_unknown_subcommand_is_a_usage_error(pyttd):
    result = pyttd("nosuchcmd")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.startswith("error: unrecognized subcommand 'nosuchcmd'\n")
