"""Exercises a second recorded file: a module next to the script, imported and called."""

import _sibling

print("sibling says", _sibling.shout("hi"))
