"""Modules loaded for one job and dropped after it: the heap holds the resident pump plus one job's
code at a time (the serving of a command line and its handler, the boot's recovery, the forecast,
the flash codec).

    keep = lazy.mark()          # the modules loaded now
    ...import and use what the job needs...
    lazy.drop(keep)             # every module loaded since leaves sys.modules and its package

or, for a job that is one call: `lazy.call(evict, "forecast", "for_delivery", ...)`.

A dropped module's code is freed by the next collection unless something still refers to it (an
object of one of its classes keeps that class alive, harmlessly). Boards drop (Config.evict_handlers);
the simulator keeps modules loaded for speed: the behaviour is the same.
"""

import gc
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


_in_command = [False]     # a command is being served on a board that drops its code (Protocol.handle)


def collect():
    """A collection (tools/emu/heap_main.py weighs the heap here: the most a pass holds at once is
    taken just before each collection the firmware makes, and at the end of the pass)."""
    gc.collect()


def serving(on):
    """Protocol.handle, on a board that drops each job's code: a command is served (True) or done."""
    _in_command[0] = on


def module(name):
    """firmware.<name>, imported if it is not loaded. While a command is served (serving()), a module
    loads on a collected heap and the heap is collected after it: the garbage of the request, of the
    command's work so far and of the import itself is freed before more is allocated, so a command's
    peak is its largest step, not the sum of its steps (a `program` allocated 149 KB at once on the
    Pico, now 122 KB). A collection takes about 15 ms on the Pico, so not otherwise: a raise, a commit
    or the journal outside a command runs while an alarm tone plays (its edges are timed by the loop)."""
    full = _PACKAGE + name
    mod = sys.modules.get(full)
    if mod is None:
        if _in_command[0]:
            collect()
        __import__(full)
        if _in_command[0]:
            collect()
        mod = sys.modules[full]
    return mod


def call(evict, name, function, *args):
    """firmware.<name>.<function>(*args), its module loaded if needed: one job. With `evict`
    (Config.evict_handlers) every module the job loaded leaves RAM after it, as with mark()/drop()."""
    keep = mark()
    try:
        return getattr(module(name), function)(*args)
    finally:
        if evict:
            drop(keep)


def settle():
    """While a command is served (serving()): a collection after a step that leaves garbage the rest
    of the command need not carry (a record written: its file object, its encoded bytes and the codec
    just dropped). Otherwise nothing (module(): no collection outside a command)."""
    if _in_command[0]:
        collect()


# modules loaded only for a job (the rest of the firmware is imported at boot and stays)
ON_DEMAND = ("boot", "persist", "forecast", "serve", "gate", "control", "commands", "cmd_therapy", "cmd_setup",
             "cmd_keys", "cmd_log")


def from_mpy():
    """True if the firmware runs from .mpy files on a filesystem: then a module loads in little more
    RAM than its code, and dropping it after a job saves heap. From .py sources (compiled on the
    board, which takes far more RAM than the code) or frozen into the image, load everything once."""
    return globals().get("__file__", "").endswith(".mpy")


def preload():
    """Import every on-demand module now (at boot, on a fresh heap), for a deploy that keeps them."""
    for name in ON_DEMAND:
        module(name)
