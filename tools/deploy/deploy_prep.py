"""Runs ON THE BOARD (`mpremote run tools/deploy/deploy_prep.py`, from tools/deploy/deploy.py), before a
deploy copies the new build.

Removes the previous firmware packages under /lib, so no stale module survives a deploy: a leftover
.py (e.g. from `mpremote mip install`) would otherwise shadow the new .mpy of the same name, since
MicroPython imports name.py before name.mpy. Creates /lib if missing. Never touches /data (records),
other libraries in /lib, or /safe_boot.
"""

import os

_DIR = 0x4000


def _rmtree(path):
    try:
        entries = list(os.ilistdir(path))
    except OSError:
        return  # not there
    for entry in entries:
        child = path + "/" + entry[0]
        if entry[1] == _DIR:
            _rmtree(child)
        else:
            os.remove(child)
    os.rmdir(path)


for pkg in ("/lib/firmware", "/lib/hal", "/lib/boards"):
    _rmtree(pkg)
try:
    os.mkdir("/lib")
except OSError:
    pass  # exists
print("deploy_prep: old firmware packages removed")
