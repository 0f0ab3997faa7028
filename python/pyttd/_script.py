"""Running a script for ``pyttd record SCRIPT`` the way ``python SCRIPT`` runs it.

``runpy.run_path`` differs from the interpreter in small ways a program can see (``sys.argv[0]``
made absolute, ``__loader__`` and ``__package__``), and imports ``pkgutil`` (and with it
``typing``), a quarter of ``pyttd record``'s start-up. A plain script file is therefore run here
as the interpreter does (``_PyRun_SimpleFileObject``): compiled from its bytes (so its coding
cookie applies) in a fresh ``__main__`` module whose ``__file__`` is its path, ``__cached__``
``None`` and ``__loader__`` a ``SourceFileLoader``, with ``sys.argv`` left as given. The fresh
module stays ``sys.modules["__main__"]``, as the interpreter's does, for exit handlers and pickles.
A directory, a zip archive or a compiled file goes to ``runpy.run_path``, which knows those.
"""

import builtins
import io
import os
import sys
from importlib._bootstrap_external import MAGIC_NUMBER
from importlib.machinery import SourceFileLoader

_ZIP_MAGIC = b"PK\x03\x04"


def run_script(path: str) -> None:
    """Runs the script at ``path`` (absolute) as ``__main__``, as ``python path`` does."""
    source = None
    if os.path.isfile(path):
        with io.open_code(path) as f:
            source = f.read()
    if source is None or source.startswith((MAGIC_NUMBER, _ZIP_MAGIC)):
        import runpy

        runpy.run_path(path, run_name="__main__")
        return
    code = compile(source, path, "exec", dont_inherit=True)
    main = type(sys)("__main__")
    main.__dict__.update(
        __file__=path,
        __cached__=None,
        __loader__=SourceFileLoader("__main__", path),
        __builtins__=builtins,
    )
    sys.modules["__main__"] = main
    exec(code, main.__dict__)
