"""The ``pyttd`` console script; also runs as ``python -m pyttd``."""

import sys

from pyttd import _native


def main() -> int:
    """Run the pyttd command line on ``sys.argv`` and return its exit status."""
    # The program name is `pyttd` however we were started, so usage and errors read the same.
    return _native.main(["pyttd", *sys.argv[1:]])


if __name__ == "__main__":
    raise SystemExit(main())
