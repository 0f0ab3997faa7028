"""Exercises sys.argv and sys.exit: prints its arguments, then exits with status 3."""

import sys

args = sys.argv[1:]
print("args", args)
sys.exit(3)
