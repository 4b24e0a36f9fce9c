"""On-board start, shared by every board's /main.py: `run(board)` with the board's wiring module.

Normal boot: build the hardware, start the pump, loop until power-off. The watchdog is armed by the
first feed of the main loop; housekeeping every board.HOUSEKEEPING_MS keeps the loop waking well inside
the watchdog timeout.

Recovery: hold the button while the board boots, or create /safe_boot (`mpremote fs touch :/safe_boot`):
the pump does not start, the watchdog is never armed, and the REPL stays free for mpremote.
Ctrl-C on the link stops a running pump (motor disabled, alarm tone) but the armed watchdog then resets
the board within its timeout, so use /safe_boot for longer work.
"""


def run(board):
    reason = board.safe_boot_reason()
    if reason:
        print("pump: safe boot, pump not started:", reason)
        print("pump: REPL free; `mpremote fs rm :/safe_boot` + reset to run the pump again")
        return
    from firmware.app import Config, Pump

    hw = board.make_hardware()
    config = Config()
    config.housekeeping_ms = board.HOUSEKEEPING_MS
    pump = Pump(hw, config)
    try:
        pump.run_forever()
    except KeyboardInterrupt:   # run_forever() has already put every output in its safe state
        print("pump: stopped by Ctrl-C; the watchdog resets the board within %d ms"
              % hw.watchdog.timeout_ms)
