"""Modules loaded for one job and dropped after it: the heap holds the resident pump plus one job's
code at a time (command handlers, the boot's recovery, the forecast, the flash codec).

    keep = lazy.mark()          # the modules loaded now
    ...import and use what the job needs...
    lazy.drop(keep)             # every module loaded since leaves sys.modules and its package

A dropped module's code is freed by the next collection unless something still refers to it (an
object of one of its classes keeps that class alive, harmlessly). Boards drop (Config.evict_handlers);
the simulator keeps modules loaded for speed: the behaviour is the same.
"""

import sys

_PACKAGE = "firmware."


def mark():
    return set(sys.modules)


def drop(keep):
    package = sys.modules.get("firmware")
    for name in [n for n in sys.modules if n not in keep]:
        del sys.modules[name]
        if package is not None and name.startswith(_PACKAGE):
            try:
                delattr(package, name[len(_PACKAGE):])
            except AttributeError:
                pass


def module(name):
    """firmware.<name>, imported if it is not loaded."""
    full = _PACKAGE + name
    mod = sys.modules.get(full)
    if mod is None:
        __import__(full)
        mod = sys.modules[full]
    return mod


# modules loaded only for a job (the rest of the firmware is imported at boot and stays)
ON_DEMAND = ("boot", "persist", "forecast", "commands", "cmd_therapy", "cmd_setup", "cmd_keys", "cmd_log")


def from_mpy():
    """True if the firmware runs from .mpy files on a filesystem: then a module loads in little more
    RAM than its code, and dropping it after a job saves heap. From .py sources (compiled on the
    board, which takes far more RAM than the code) or frozen into the image, load everything once."""
    return globals().get("__file__", "").endswith(".mpy")


def preload():
    """Import every on-demand module now (at boot, on a fresh heap), for a deploy that keeps them."""
    for name in ON_DEMAND:
        module(name)
