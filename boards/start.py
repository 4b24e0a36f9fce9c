"""On-board start, shared by every board's /main.py: `run(board)` with the board's wiring module.

Normal boot: the hardware is built, the pump starts and loops until power-off. The watchdog is armed
by the first feed of the main loop; housekeeping every board.HOUSEKEEPING_MS keeps the loop waking
well inside the watchdog timeout.

The REPL is reachable by safe boot or on the bench only (issue 13 item 3). main.py switches the
interrupt character off before it imports anything (micropython.kbd_intr(-1)), so in the field Ctrl-C
(0x03) on the link is a plain data byte: a host, a terminal or mpremote can neither stop the pump nor
open the REPL on the link that carries the protocol (from the REPL, keys could be read and firmware
replaced). If building the pump or its loop ever fails (run_forever() has then put every output in
its safe state), the board prints why and resets after RESET_DELAY_MS instead of falling into the REPL.

With the bench jumper closed Ctrl-C works as MicroPython's interrupt: it stops a running pump (motor
disabled, alarm tone, fault logged) and opens the REPL, and a failure also ends at the REPL with its
traceback; the armed watchdog then resets the board within its timeout, which is ample for
`mpremote ... fs touch :/safe_boot + reset` (tools/deploy/deploy.py's first step).

Recovery: hold the button while the board boots, or create /safe_boot: the pump does not start, the
watchdog is never armed, and the REPL stays free for mpremote.
"""

import micropython

CTRL_C = 3              # micropython.kbd_intr(): MicroPython's interrupt character
CTRL_C_OFF = -1         # no interrupt character
RESET_DELAY_MS = 5000   # a failed pump is reset after this (the reason stays on the link meanwhile)
LOAD_GC_BYTES = 16 * 1024   # a collection every this many bytes allocated while the firmware loads


def reset_cause(machine):
    """The boot's cause for the event log: "power_on", "watchdog" or "reset" (any other reset)."""
    cause = machine.reset_cause()
    if cause == getattr(machine, "WDT_RESET", None):
        return "watchdog"
    if cause == getattr(machine, "PWRON_RESET", None):
        return "power_on"
    return "reset"


def build(board):
    """The pump on this board's hardware, built as run() starts it (its loop not yet running).

    While the firmware loads, the heap is collected every LOAD_GC_BYTES allocated (gc.threshold), so
    the code stays packed at the bottom of the heap and its loading garbage never spreads over it.
    Without it, compiling the .py layout filled the whole heap with the compiler's garbage before the
    first collection, which then left the code scattered: the interned-name table, which grows by
    doubling into one block (1280 names more: 7.7 KB), found no such block among 123 KB free
    (docs/heap.md, "The .py layout at boot")."""
    import gc

    import machine

    threshold = getattr(gc, "threshold", None)      # MicroPython's; CPython (the host tests) has none
    if threshold is not None:
        threshold(LOAD_GC_BYTES)
    try:
        from firmware import lazy
        from_mpy = lazy.from_mpy()
        if not from_mpy:    # .py sources compile now, or frozen code: keep it all loaded
            lazy.preload()
        from firmware.app import Config, Pump

        hw = board.make_hardware()
        config = Config()
        config.housekeeping_ms = board.HOUSEKEEPING_MS
        config.evict_handlers = from_mpy    # .mpy files: each job's code leaves RAM after it (firmware/lazy.py)
        return Pump(hw, config, reset_cause=reset_cause(machine))
    finally:
        if threshold is not None:
            threshold(-1)                   # MicroPython's default: collect only when the heap is full


def run(board):
    micropython.kbd_intr(CTRL_C_OFF)   # main.py did it already; a board entry that did not is covered
    reason = board.safe_boot_reason()
    if reason:
        print("pump: safe boot, pump not started:", reason)
        print("pump: REPL free; `mpremote fs rm :/safe_boot` + reset to run the pump again")
        return
    bench = board.bench_jumper_closed()
    if bench:
        micropython.kbd_intr(CTRL_C)
    try:
        build(board).run_forever()
    except BaseException as exc:  # noqa: BLE001 - in the field never the REPL on the pump's link
        if bench:
            print("pump: stopped (%r); bench jumper closed: REPL open, the watchdog resets the board" % (exc,))
            raise
        print("pump: stopped (%r); resetting in %d ms" % (exc, RESET_DELAY_MS))
    import time

    import machine
    time.sleep_ms(RESET_DELAY_MS)
    machine.reset()
