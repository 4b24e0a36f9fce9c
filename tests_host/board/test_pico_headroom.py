"""The .py layout (`mpremote mip install package.json`: the sources compiled on the board at boot) has
room to spare on the emulated Pico. Compiling fills the heap with the compiler's garbage; boards/start.py
collects every LOAD_GC_BYTES while the firmware loads, so the code stays packed and the interned-name
table, which grows by doubling into one block (7.7 KB at 1260 names), always finds one. Without that
the layout failed to boot with 123 KB of 240 KB free (MemoryError "allocating 1280 bytes": 1280 names),
and a few names more or less decided it (docs/heap.md, "The .py layout at boot")."""

import os

import mkfs
import pico
import pytest

pytestmark = pytest.mark.xdist_group("board")

BALLAST_KB = 64      # held before the firmware loads: a Pico with 176 KB of heap (it booted with 100 KB held)

_MAIN = """import micropython
micropython.kbd_intr(-1)
_ballast = bytearray(%d)
from boards.pico import board
from boards.start import run
run(board)
"""


def test_the_py_layout_boots_with_64_kb_less_heap(mip_tree, tmp_path):
    """The mip install's firmware boots and answers with BALLAST_KB of the heap held by main.py."""
    import shutil
    tree = str(tmp_path / "tree")
    shutil.copytree(mip_tree, tree)
    with open(os.path.join(tree, "main.py"), "w") as f:
        f.write(_MAIN % (BALLAST_KB * 1024))
    img = mkfs.image(tree, str(tmp_path / "flash.img"))
    p = pico.EmulatedPico(img, gpio={pico.BENCH: 0}, log=str(tmp_path / "boot.log")).start()
    try:
        link = p.boot_link()
        info = link.call("info")
        state = link.call("sim.state")
    finally:
        p.stop()
    assert info["board"] == "pico"
    assert state["heap_alloc"] > BALLAST_KB * 1024    # the ballast was held while the pump ran
