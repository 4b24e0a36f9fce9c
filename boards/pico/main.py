"""On-board entry for the Pico family, copied to /main.py (libraries in /lib). Boot, safe boot and
recovery: boards/start.py. Ctrl-C on the link is switched off first, before anything is imported."""

import micropython

micropython.kbd_intr(-1)

from boards.pico import board  # noqa: E402
from boards.start import run  # noqa: E402

run(board)
