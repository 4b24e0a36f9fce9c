"""CPython stand-in for MicroPython's built-in `micropython` module (only what the firmware uses).

Only on sys.path under CPython; MicroPython's built-in module always wins on the unix port and boards.
"""


def const(value):
    return value


def mem_peak():
    return 0
