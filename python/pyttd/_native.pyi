"""Native core of pyttd (Rust). Use the ``pyttd`` package rather than importing this directly."""

from collections.abc import Sequence

__version__: str

def main(argv: Sequence[str]) -> int:
    """Run the pyttd command line with ``argv`` (program name first) and return its exit code."""
