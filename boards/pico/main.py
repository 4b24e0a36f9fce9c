"""On-board entry for the Pico family, copied to /main.py (libraries in /lib). Boot, safe boot and
recovery: boards/start.py."""

from boards.pico import board
from boards.start import run

run(board)
