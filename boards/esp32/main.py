"""On-board entry for the ESP32 dev board, copied to /main.py (libraries in /lib). Boot, safe boot and
recovery: boards/start.py. Ctrl-C on the link is switched off first, before anything is imported."""

import micropython

micropython.kbd_intr(-1)

from boards.esp32 import board  # noqa: E402
from boards.start import run  # noqa: E402

run(board)
