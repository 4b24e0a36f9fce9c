"""On-board entry for the ESP32 dev board, copied to /main.py (libraries in /lib). Boot, safe boot and
recovery: boards/start.py."""

from boards.esp32 import board
from boards.start import run

run(board)
