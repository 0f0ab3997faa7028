# Exercises the empty module: only this comment; its body is one line-0 event, prints nothing.
