"""Run on the MicroPython unix port with tests_host/fakes first on MICROPYPATH:

    micropython mp_main_safe_boot.py BOARD

Holds the board's safe-boot button down (fake pin at 0), then runs boards/BOARD/main.py as the board would at
boot. main.py must see the held button, print why, and return without building the hardware or
arming the watchdog. Last line: `RETURNED wdts=N en_pin=True|False`.
"""

import sys

import machine

name = sys.argv[1]
board = __import__("boards." + name + ".board", None, None, ("PINS",))
machine.Pin(board.PINS["safe_boot"], machine.Pin.IN).level = 0      # held to GND
with open("boards/%s/main.py" % name) as f:
    exec(f.read(), {"__name__": "__main__"})
print("RETURNED wdts=%d en_pin=%s" % (len(machine.wdts), board.PINS["en"] in machine.pins))
