"""A module imported by imports_sibling.py (not a script itself): its code is recorded too."""

PREFIX = ">> "


def shout(text):
    loud = text.upper()
    return PREFIX + loud
