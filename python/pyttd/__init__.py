"""pyttd: a time-travel debugger for Python.

Record every step a program takes, then query and replay it. The work happens in the native
module ``pyttd._native`` (Rust); this package is the thin Python face of it.
"""

from pyttd._native import __version__

__all__ = ["__version__"]
