"""Bootstrap of the heap-budget run on the MicroPython unix port (tools/bench/cpython_heap_run.py
launches it):

    micropython -X heapsize=N tools/bench/mpy_heap_boot.py MODE CODE DAYS STORE_DIR SAMPLE_EVERY [CHUNK_S [LAYOUT]]

(any MicroPython unix build with vfs.VfsRom: the 64-bit port or the 32-bit single-float build) puts
the code where MODE says, then runs mpy_heap_scenario.main() from there (LAYOUT: see there). Kept
tiny: this file is compiled from source into the heap it measures, and it sets sys.path itself (to
the staged code only: not tools/bench/repo_path.py, whose repository paths would let an import
bypass the staged code).

MODE  CODE          where the bytecode lives
rom   image file    a ROMFS image (mpremote romfs build) mounted with vfs.VfsRom from memory OUTSIDE
                    the GC heap: the stack area of a parked thread (pthread mmap), filled with
                    readinto() through uctypes.bytearray_at. .mpy imported from a VfsRom execute in
                    place, as from a board's ROMFS partition: the heap holds only data.
mpy     directory   .mpy files: loaded INTO the heap
"""

import gc
import sys


def _rw_maps():
    found = set()
    with open("/proc/self/maps") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 5 and parts[1].startswith("rw"):   # anonymous read-write mapping
                lo, hi = parts[0].split("-")
                found.add((int(lo, 16), int(hi, 16)))
    return found


def _outside_heap(size):
    """A writable bytearray of `size` bytes that the GC neither manages nor scans: the bottom of a
    parked thread's stack (the thread itself uses a few KB at the top and blocks forever)."""
    import _thread

    import uctypes
    before = _rw_maps()
    park = _thread.allocate_lock()
    park.acquire()
    ready = _thread.allocate_lock()
    ready.acquire()

    def parked():
        ready.release()
        park.acquire()

    _thread.stack_size(size + 256 * 1024)
    _thread.start_new_thread(parked, ())
    ready.acquire()
    lo, hi = max(_rw_maps() - before, key=lambda r: r[1] - r[0])
    if hi - lo < size + 128 * 1024:
        raise OSError("no thread stack mapping found")
    return uctypes.bytearray_at(lo + 4096, size), park


def main():
    import os

    import vfs
    mode, code = sys.argv[1], sys.argv[2]
    out = {"code_mode": mode, "image_bytes": 0}
    keep = None
    if mode == "rom":
        size = os.stat(code)[6]
        out["image_bytes"] = size
        image, keep = _outside_heap(size)
        with open(code, "rb") as f:
            f.readinto(image)
        vfs.mount(vfs.VfsRom(image), "/rom")
        code = "/rom"
    elif mode != "mpy":
        raise SystemExit("mpy_heap_boot: unknown mode " + mode)
    sys.path[:] = [code]
    gc.collect()
    out["boot_heap"] = gc.mem_alloc()
    import mpy_heap_scenario
    status = mpy_heap_scenario.main(sys.argv[3:], out)
    del keep
    sys.exit(status)


main()
