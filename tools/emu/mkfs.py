"""The Pico's flash filesystem as an image file, from the firmware's two deploy layouts.

    python tools/emu/mkfs.py mpy OUT.img      # `make build BOARD=pico`: lib/**/*.mpy + main.py
    python tools/emu/mkfs.py mip OUT.img      # `mpremote mip install package.json` + main.py: plain .py

Geometry of MicroPython's RPI_PICO port (v1.28): littlefs2, 1408 KiB at flash offset 0xa0000, 352 blocks
of 4 KiB, MicroPython's lfs2 defaults (read/prog size 32, lookahead 32). Needs littlefs-python (pinned in
requirements-dev.txt). tools/emu/run_pico.mjs loads the image with --fs and writes it back with --save-fs.
"""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BLOCK_SIZE = 4096
BLOCK_COUNT = 352
LAYOUTS = ("mpy", "mip")


def deploy_tree(layout, dest):
    """Write the files a deploy puts on the board into the folder `dest` (emptied first): "mpy" is
    tools/deploy/build.py's output for the pico, "mip" the package's urls as .py under lib/ (mip's default
    target), from the module list package.json is written from (tools/deploy/build.py --package-json;
    tests_host/test_boards.py checks that the file is current). Both have /main.py."""
    if layout not in LAYOUTS:
        raise ValueError("layout %r: use %s" % (layout, " or ".join(LAYOUTS)))
    if os.path.isdir(dest):
        shutil.rmtree(dest)
    sys.path.insert(0, os.path.join(ROOT, "tools", "deploy"))
    try:
        import build
    finally:
        sys.path.pop(0)
    if layout == "mpy":
        build.build("pico", dest)
        return dest
    for target, source in build.package_json("pico")["urls"]:
        out = os.path.join(dest, "lib", target)
        os.makedirs(os.path.dirname(out), exist_ok=True)
        shutil.copyfile(os.path.join(ROOT, source), out)
    shutil.copyfile(os.path.join(ROOT, "boards", "pico", "main.py"), os.path.join(dest, "main.py"))
    return dest


def image(src, out, extra=None):
    """Pack the folder `src` into a filesystem image at `out`; `extra` maps more device paths to bytes
    (e.g. {"/safe_boot": b""})."""
    from littlefs import LittleFS
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=BLOCK_COUNT, read_size=32, prog_size=32,
                  lookahead_size=32)
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, src)
        dev = "/" if rel == "." else "/" + rel.replace(os.sep, "/")
        if dev != "/":
            fs.mkdir(dev)
        for name in sorted(filenames):
            with open(os.path.join(dirpath, name), "rb") as f, fs.open(dev.rstrip("/") + "/" + name, "wb") as g:
                g.write(f.read())
    for path, data in (extra or {}).items():
        with fs.open(path, "wb") as g:
            g.write(data)
    if os.path.dirname(out):
        os.makedirs(os.path.dirname(out), exist_ok=True)
    with open(out, "wb") as f:
        f.write(fs.context.buffer)
    return out


def _mount(img):
    from littlefs import LittleFS
    with open(img, "rb") as f:
        data = f.read()
    fs = LittleFS(block_size=BLOCK_SIZE, block_count=BLOCK_COUNT, read_size=32, prog_size=32,
                  lookahead_size=32, mount=False)
    fs.context.buffer[:len(data)] = data
    fs.mount()
    return fs


def _rmtree(fs, path):
    for entry in fs.scandir(path):
        child = path.rstrip("/") + "/" + entry.name
        if entry.type == 2:      # LFS_TYPE_DIR
            _rmtree(fs, child)
        else:
            fs.remove(child)
    fs.rmdir(path)


def redeploy(img, src):
    """What tools/deploy/deploy.py does to a board, on an image: the firmware packages under /lib and
    /main.py are replaced by the folder `src` (a deploy_tree); /data and everything else stay."""
    fs = _mount(img)
    for pkg in ("/lib/firmware", "/lib/hal", "/lib/boards"):
        try:
            fs.stat(pkg)
        except Exception:  # noqa: BLE001 - littlefs-python raises its own error type for a missing path
            continue
        _rmtree(fs, pkg)
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames.sort()
        rel = os.path.relpath(dirpath, src)
        dev = "/" if rel == "." else "/" + rel.replace(os.sep, "/")
        if dev != "/":
            fs.makedirs(dev, exist_ok=True)
        for name in sorted(filenames):
            with open(os.path.join(dirpath, name), "rb") as f, fs.open(dev.rstrip("/") + "/" + name, "wb") as g:
                g.write(f.read())
    fs.unmount()
    with open(img, "wb") as f:
        f.write(fs.context.buffer)
    return img


def read_files(img):
    """{device path: bytes} of every file in an image (what a board's flash holds after a run)."""
    fs = _mount(img)
    files = {}
    for root, _dirs, names in fs.walk("/"):
        for name in names:
            path = root.rstrip("/") + "/" + name
            with fs.open(path, "rb") as g:
                files[path] = g.read()
    return files


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 2 or argv[0] not in LAYOUTS:
        sys.exit("usage: python tools/emu/mkfs.py mpy|mip OUT.img")
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        tree = deploy_tree(argv[0], os.path.join(tmp, "tree"))
        print("wrote", image(tree, argv[1]))


if __name__ == "__main__":
    main()
