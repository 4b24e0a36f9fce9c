"""Copy a build to a board with mpremote: `python tools/deploy/deploy.py BOARD PORT [--dry-run]`.

Steps (each printed before it runs; --dry-run only prints them):
 1. `fs touch :/safe_boot` + `reset`: the board reboots into safe boot (hal/mcu/boot.py), so the pump
    is stopped and its watchdog never armed while files are copied (an armed watchdog would reset the
    board mid-copy). mpremote reaches a running pump only with the bench jumper closed (its Ctrl-C
    then stops the pump; in the field Ctrl-C is switched off, boards/start.py): close the jumper and
    reset the board, or hold the button while it boots (safe boot), before a deploy.
 2. wait for the serial port to come back (the Pico re-enumerates on USB after a reset).
 3. in one mpremote session: run tools/deploy/deploy_prep.py on the board (removes the old firmware
    packages), `fs mkdir` the package directories, `fs cp -r` the packages of build/BOARD/lib into
    /lib, copy main.py to /main.py, remove /safe_boot, and `reset` into the new firmware.
Run `python tools/deploy/build.py BOARD` (or `make build`) first.
"""

import argparse
import os
import shlex
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))  # tools/deploy/..
BOARDS = ("pico", "esp32")
PORT_WAIT_S = 15


def mpremote():
    """The venv's mpremote (shown relative to the repo when it lives there), else the one on PATH."""
    here = os.path.join(os.path.dirname(sys.executable), "mpremote")
    if not os.path.exists(here):
        return "mpremote"
    rel = os.path.relpath(here, ROOT)
    return here if rel.startswith("..") else rel


def package_dirs(build_dir):
    """Device directories under /lib that the build holds, parents first."""
    lib = os.path.join(build_dir, "lib")
    dirs = []
    for dirpath, dirnames, _files in os.walk(lib):
        dirnames.sort()
        rel = os.path.relpath(dirpath, lib)
        if rel != ".":
            dirs.append("/lib/" + rel.replace(os.sep, "/"))
    return dirs


def commands(board, port, build_dir=None):
    """The mpremote command lines of a deploy, as argument lists (run from the repo root; build_dir
    defaults to build/BOARD)."""
    build_dir = build_dir or "build/" + board
    mp = mpremote()
    arm = [mp, "connect", port, "fs", "touch", ":/safe_boot", "+", "reset"]
    copy = [mp, "connect", port, "run", "tools/deploy/deploy_prep.py"]
    for d in package_dirs(os.path.join(ROOT, build_dir)):
        copy += ["+", "fs", "mkdir", ":" + d]
    # one source per package into the existing /lib (never ":/": mpremote strips it to an empty path)
    packages = sorted(os.listdir(os.path.join(ROOT, build_dir, "lib")))
    copy += ["+", "fs", "cp", "-r"] + [build_dir + "/lib/" + p for p in packages] + [":/lib"]
    copy += ["+", "fs", "cp", build_dir + "/main.py", ":/main.py",
             "+", "fs", "rm", ":/safe_boot",
             "+", "reset"]
    return arm, copy


def wait_for_port(port, timeout_s=PORT_WAIT_S):
    """After a reset: wait until a device-path port exists again (others: a fixed pause)."""
    if not port.startswith("/"):
        time.sleep(3)
        return True
    time.sleep(1)  # let it drop off the bus first
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if os.path.exists(port):
            time.sleep(1)  # and finish booting
            return True
        time.sleep(0.2)
    return False


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("board", choices=BOARDS)
    parser.add_argument("port", help="serial port, e.g. /dev/ttyACM0 (Pico), /dev/ttyUSB0 (ESP32)")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    args = parser.parse_args(argv)

    build_dir = os.path.join(ROOT, "build", args.board)
    if not os.path.exists(os.path.join(build_dir, "main.py")):
        sys.exit("deploy: no build in build/%s: run `make build BOARD=%s` first" % (args.board, args.board))
    arm, copy = commands(args.board, args.port)
    print(shlex.join(arm))
    print("# wait for %s to come back after the reset" % args.port)
    print(shlex.join(copy))
    if args.dry_run:
        return 0
    os.chdir(ROOT)
    if subprocess.run(arm).returncode != 0:
        sys.exit("deploy: could not reach the board's REPL on %s: close the bench jumper and reset the board, "
                 "or hold the button while it boots (safe boot), then run deploy again" % args.port)
    if not wait_for_port(args.port):
        sys.exit("deploy: %s did not come back after the reset" % args.port)
    if subprocess.run(copy).returncode != 0:
        sys.exit("deploy: copy failed; the board stays in safe boot (/safe_boot): run deploy again")
    print("deploy: %s firmware on %s, board reset" % (args.board, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
