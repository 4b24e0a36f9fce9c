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


build_tool = _load("pump_build_tool", "tools/deploy/build.py")
deploy_tool = _load("pump_deploy_tool", "tools/deploy/deploy.py")


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
    """tools/deploy/build.py BOARD compiles every module the board needs into lib/<package>/<name>.mpy,
    copies main.py as source, prints a size table whose total matches the files. (The board's budget is
    its RAM, measured on the emulated Pico by `make bench` and tests_host/board, not the .mpy bytes.)"""
    out = tmp_path / board
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy", "build.py"), board,
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


def _board_facts(board):
    """The literal facts of boards/<board>/board.py (PINS, IRQ_HARD, ADC_ATTEN, ...), read without
    importing it (it imports MicroPython's machine through the builder)."""
    import ast
    with open(os.path.join(ROOT, "boards", board, "board.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    facts = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = node.value
            if isinstance(value, ast.Call) and getattr(value.func, "id", None) == "const":
                value = value.args[0]
            try:
                facts[node.targets[0].id] = ast.literal_eval(value)
            except ValueError:
                pass
    return facts


# What a board's builder must make of each signal of its pin map (the fake machine's view):
# outputs with their level at start, pulled-up inputs, the PWM, the ADCs; the safe-boot button is
# read at boot only (boards/start.py), so building the hardware leaves its pin alone.
_OUTPUTS = {"step": 0, "dir": 1, "en": 1}       # EN high: motor driver off; DIR at its forward level
_PULLED_UP = ("rotation", "bench")
_ADCS = ("battery", "pressure")


@pytest.mark.parametrize("board", BOARDS)
def test_the_builder_wires_the_pin_map_and_nothing_else(board, tmp_path):
    """boards/mcu_board.py builds each board from its PINS: every signal on its GPIO, configured as
    the signal needs (the port's IRQ kind and ADC attenuation from the board file), and no other pin
    claimed: no LED, no button IRQ (the safe-boot button is read at boot only)."""
    facts = _board_facts(board)
    pins = facts["PINS"]
    report, _ = _start_board(board, tmp_path)
    assert report["pins"] == sorted(v for k, v in pins.items() if k != "safe_boot")
    for signal, level in _OUTPUTS.items():
        assert report["levels"][str(pins[signal])] == level, signal
    assert {int(n) for n, pull in report["pulls"].items() if pull == 1} == {pins[s] for s in _PULLED_UP}
    hard = {"pico": True, "esp32": None}[board]     # rp2 pin IRQs may be hard; ESP32's are soft only
    assert report["irqs"] == {str(pins["rotation"]): [8, hard]}     # the rotor: rising edges only
    assert report["pwms"] == [pins["buzzer"]]
    atten = {"pico": None, "esp32": 3}[board]       # fake machine.ADC.ATTN_11DB == 3
    assert report["adcs"] == {str(pins[s]): atten for s in _ADCS}


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

DRIVER_CHECKS = ("stepper", "clock", "rotation", "analog", "buzzer", "watchdog", "storage", "boot")


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
        "package.json is stale: run `.venv/bin/python tools/deploy/build.py pico --package-json`")
    for dest, src in pkg["urls"]:
        assert dest == src and not dest.startswith("/"), "dests are relative to /lib, as in the repo"
        assert os.path.isfile(os.path.join(ROOT, src)), src


class _ManifestTool:
    """MicroPython's manifest API (tools/manifestfile.py, freeze mode) as far as the manifests use it:
    paths relative to the manifest being run, include() with keyword options (`options` in the
    included file, with options.defaults()), package() with or without files=. Records what it
    would freeze as repo-relative paths; includes outside the repository ($(PORT_DIR)...) are noted."""

    def __init__(self):
        self.files = []
        self.external = []

    def run(self, path, **kwargs):
        here = os.path.dirname(path)

        class Options:
            def __init__(self):
                self._defaults = {}

            def defaults(self, **kw):
                self._defaults = kw

            def __getattr__(self, name):
                return kwargs.get(name, self._defaults.get(name))

        def include(rel, **kw):
            if rel.startswith("$("):
                self.external.append(rel)
                return
            target = os.path.normpath(os.path.join(here, rel))
            self.run(os.path.join(target, "manifest.py") if os.path.isdir(target) else target, **kw)

        def package(name, files=None, base_path=".", opt=None):
            base = os.path.normpath(os.path.join(here, base_path))
            if files is None:
                files = sorted(os.path.relpath(os.path.join(d, f), os.path.join(base, name))
                               for d, dirs, fs in os.walk(os.path.join(base, name))
                               for f in fs if f.endswith(".py"))
            for f in files:
                full = os.path.join(base, name, f)
                assert os.path.isfile(full), "the manifest names a missing file: %s" % full
                self.files.append(os.path.relpath(full, ROOT).replace(os.sep, "/"))

        def module(name, base_path=".", opt=None):
            self.files.append(os.path.relpath(os.path.join(here, base_path, name), ROOT).replace(os.sep, "/"))

        with open(path) as f:
            code = f.read()
        exec(compile(code, path, "exec"), {"package": package, "module": module, "include": include,
                                           "options": Options()})
        return self


def _manifest_files(board):
    """What boards/<board>/manifest.py freezes (repo-relative, sorted) and its external includes."""
    tool = _ManifestTool().run(os.path.join(ROOT, "boards", board, "manifest.py"))
    assert len(tool.files) == len(set(tool.files)), "a module is frozen twice"
    return sorted(tool.files), tool.external


@pytest.mark.parametrize("board", BOARDS)
def test_frozen_manifest_matches_build(board):
    """The frozen manifest freezes the same modules the .mpy build deploys (and not main.py), on top
    of the port's own frozen modules."""
    files, includes = _manifest_files(board)
    assert includes == ["$(PORT_DIR)/boards/manifest.py"]
    assert files == sorted(build_tool.sources(board))
    assert "boards/%s/main.py" % board not in files


def test_both_manifests_share_one_package_list():
    """boards/<board>/manifest.py only includes the port's manifest and boards/manifest_common.py with
    its board's name; the lists differ in the board's own package alone."""
    import ast
    for board in BOARDS:
        with open(os.path.join(ROOT, "boards", board, "manifest.py")) as f:
            calls = [ast.unparse(n.value) for n in ast.parse(f.read()).body if isinstance(n, ast.Expr)]
        assert calls == ["include('$(PORT_DIR)/boards/manifest.py')",
                         "include('../manifest_common.py', board=%r)" % board], calls
    pico, esp32 = (set(_manifest_files(b)[0]) for b in BOARDS)
    assert pico - esp32 == {"boards/pico/__init__.py", "boards/pico/board.py"}
    assert esp32 - pico == {"boards/esp32/__init__.py", "boards/esp32/board.py"}


def test_shared_manifest_needs_a_board():
    """The shared list run without a board is an error, not an image without a board file."""
    with pytest.raises(ValueError, match="board="):
        _ManifestTool().run(os.path.join(ROOT, "boards", "manifest_common.py"))


def _imports_of(rel):
    """Modules `rel` imports anywhere (top level and inside functions), as dotted names."""
    import ast
    with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    names = set()
    package = rel[:-3].replace("/", ".").rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([base] if base else []))
            names.add(base)
            names.update(base + "." + a.name for a in node.names)    # `from pkg import module`
    return names


def _project_module(name):
    """The repo-relative file of a project module name, or None (a built-in or not a module)."""
    path = name.replace(".", "/")
    for rel in (path + ".py", path + "/__init__.py"):
        if os.path.isfile(os.path.join(ROOT, rel)):
            return rel
    return None


# What MicroPython's board images provide built in (a project module must not shadow one).
_BUILTIN = {"micropython", "machine", "sys", "os", "time", "gc", "select", "json", "struct", "hashlib",
            "binascii", "errno", "io", "random", "math", "array", "collections", "re", "uctypes"}


def _runtime_closure(board):
    """Every project module the board imports at run time: from its main.py, all of firmware/
    (handlers are loaded on demand by name), and what those import, transitively."""
    todo = ["boards/%s/main.py" % board] + ["firmware/" + n for n in sorted(os.listdir(os.path.join(ROOT, "firmware")))
                                           if n.endswith(".py")]
    seen = set()
    outside = set()
    while todo:
        rel = todo.pop()
        if rel in seen:
            continue
        seen.add(rel)
        for name in _imports_of(rel):
            found = _project_module(name)
            parts = name.split(".")
            for i in range(1, len(parts)):          # a package's __init__ runs before its module
                init = _project_module(".".join(parts[:i]))
                if init:
                    todo.append(init)
            if found:
                todo.append(found)
            elif parts[0] in ("firmware", "hal", "boards"):
                assert _project_module(".".join(parts[:-1])), "%s imports a missing %s" % (rel, name)
            else:
                outside.add(parts[0])
    seen.discard("boards/%s/main.py" % board)
    return seen, outside


@pytest.mark.parametrize("board", BOARDS)
def test_manifest_holds_every_module_the_board_imports(board):
    """Every module the firmware imports on the board (all of firmware/, the hal it needs, the board's
    package) is frozen; nothing of the simulator, the host mocks or the other board is; everything
    else imported is built into MicroPython."""
    files, _ = _manifest_files(board)
    needed, outside = _runtime_closure(board)
    assert {"firmware/app.py", "hal/interfaces.py", "hal/mcu/stepper.py", "boards/mcu_board.py",
            "boards/%s/board.py" % board, "boards/start.py", "boards/__init__.py"} <= needed
    assert sorted(needed - set(files)) == [], "imported on the board but not frozen"
    assert outside <= _BUILTIN, sorted(outside - _BUILTIN)
    other = [b for b in BOARDS if b != board][0]
    assert not [f for f in files if f.startswith(("hal/mock/", "hal/cpython/", "boards/sim/",
                                                  "boards/%s/" % other))]


@pytest.mark.parametrize("board", BOARDS)
def test_manifest_modules_compile_for_the_boards_cpu(board, tmp_path):
    """Each frozen module compiles with mpy-cross for the board's CPU (what the image build runs)."""
    arch = {"pico": "armv6m", "esp32": "xtensawin"}[board]
    assert build_tool.ARCH[board] == arch
    files, _ = _manifest_files(board)
    failed = []
    for i, rel in enumerate(files):
        out = tmp_path / ("%d.mpy" % i)
        proc = subprocess.run([_tool("mpy-cross"), "-march=" + arch, "-s", rel, "-o", str(out),
                               os.path.join(ROOT, rel)], capture_output=True, text=True)
        if proc.returncode != 0 or out.read_bytes()[:2] != b"M\x06":
            failed.append((rel, proc.stderr.strip()))
    assert failed == []


# --- deploy -------------------------------------------------------------------------------------

def test_deploy_commands(tmp_path):
    """deploy arms safe boot, then clears the old packages, creates every package dir, copies each
    package into /lib and main.py to /, removes /safe_boot and resets."""
    out = tmp_path / "pico"
    build_tool.build("pico", str(out))
    arm, copy = deploy_tool.commands("pico", "/dev/ttyACM0", str(out))
    assert arm[1:] == ["connect", "/dev/ttyACM0", "fs", "touch", ":/safe_boot", "+", "reset"]
    steps = " ".join(copy[3:]).split(" + ")
    assert steps[0] == "run tools/deploy/deploy_prep.py"
    mkdirs = [s.split()[-1] for s in steps if s.startswith("fs mkdir")]
    assert mkdirs == [":/lib/boards", ":/lib/boards/pico", ":/lib/firmware", ":/lib/hal", ":/lib/hal/mcu"]
    assert ("fs cp -r %s/lib/boards %s/lib/firmware %s/lib/hal :/lib" % (out, out, out)) in steps
    assert steps[-3:] == ["fs cp %s/main.py :/main.py" % out, "fs rm :/safe_boot", "reset"]


def test_deploy_dry_run_and_make_n():
    """`tools/deploy/deploy.py --dry-run` prints the mpremote lines without running them; `make -n deploy`
    prints the build and deploy commands."""
    if not os.path.exists(os.path.join(ROOT, "build", "pico", "main.py")):
        subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy", "build.py"), "pico"],
                       check=True, capture_output=True)
    proc = subprocess.run([sys.executable, os.path.join(ROOT, "tools", "deploy", "deploy.py"), "pico",
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
    assert "tools/deploy/build.py pico" in proc.stdout
    assert "tools/deploy/deploy.py pico /dev/ttyACM0" in proc.stdout


# README / docs/boards.md row label -> the pin map's signal
_README_SIGNALS = {"STEP": "step", "DIR": "dir", "EN": "en", "buzzer (PWM)": "buzzer",
                   "battery (ADC, 100k/100k divider)": "battery", "pressure (ADC, optional)": "pressure",
                   "rotation (optional)": "rotation", "bench jumper": "bench",
                   "safe-boot button (read at boot only)": "safe_boot"}
_DOC_SIGNALS = {"STEP": "step", "DIR": "dir", "EN": "en", "buzzer": "buzzer", "battery": "battery",
                "pressure": "pressure", "rotation": "rotation", "bench jumper": "bench",
                "safe-boot button": "safe_boot"}


def test_every_board_states_each_signal_of_the_pin_map():
    """Each board file's PINS names exactly the builder's signals, each on its own GPIO."""
    import ast
    with open(os.path.join(ROOT, "boards", "mcu_board.py"), encoding="utf-8") as f:
        tree = ast.parse(f.read())
    signals = [ast.literal_eval(n.value) for n in tree.body
               if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "SIGNALS"][0]
    assert set(_README_SIGNALS.values()) == set(signals)
    for board in BOARDS:
        pins = _board_facts(board)["PINS"]
        assert sorted(pins) == sorted(signals), board
        assert len(set(pins.values())) == len(pins), "%s: two signals on one GPIO" % board


def test_readme_wiring_table_matches_the_board_files():
    """The README's wiring table is what boards/<board>/board.py wires (so the two cannot drift)."""
    import re
    readme = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    rows = {}
    for signal, pico, esp32 in re.findall(r"^\| ([^|]+?) \| GP(\d+) \| GPIO(\d+) \|$", readme, re.M):
        rows[signal] = (int(pico), int(esp32))
    assert set(rows) == set(_README_SIGNALS), sorted(rows)
    pico, esp32 = _board_facts("pico")["PINS"], _board_facts("esp32")["PINS"]
    for label, signal in _README_SIGNALS.items():
        assert rows[label] == (pico[signal], esp32[signal]), label


def test_docs_wiring_tables_match_the_board_files():
    """docs/boards.md's per-board tables give each signal the GPIO of the board's pin map, and name
    no LED or button the firmware would drive."""
    import re
    text = open(os.path.join(ROOT, "docs", "boards.md"), encoding="utf-8").read()
    sections = {"pico": text.split("## Raspberry Pi Pico")[1].split("\n## ")[0],
                "esp32": text.split("## ESP32 dev board")[1].split("\n## ")[0]}
    for board, section in sections.items():
        pins = _board_facts(board)["PINS"]
        rows = dict(re.findall(r"^\| ([^|]+?) \| GP(?:IO)?(\d+)", section, re.M))
        assert {label: int(gpio) for label, gpio in rows.items()} == {
            label: pins[signal] for label, signal in _DOC_SIGNALS.items()}, board


def test_board_and_hal_code_reach_into_no_private_field():
    """boards/ and hal/ use other objects through their public methods only: no `obj._field` on
    anything but self (boards/sim/main.py once read the mock serial's buffer, sim.serial._tx)."""
    import ast
    found = []
    for rel in _py_sources():
        if not rel.startswith(("boards/", "hal/")):
            continue
        with open(os.path.join(ROOT, rel), encoding="utf-8") as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                    and not (isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"))):
                found.append("%s:%d %s" % (rel, node.lineno, ast.unparse(node)))
    assert found == []


def test_the_emulated_picos_rig_uses_the_pico_pin_map():
    """tools/emu/pico.py drives the pins boards/pico/board.py wires (its button is the safe-boot one)."""
    sys.path.insert(0, os.path.join(ROOT, "tools", "emu"))
    try:
        import pico as rig
    finally:
        sys.path.pop(0)
    pins = _board_facts("pico")["PINS"]
    assert (rig.STEP, rig.DIR, rig.EN, rig.BUTTON, rig.BUZZER, rig.ROTOR, rig.BENCH) == (
        pins["step"], pins["dir"], pins["en"], pins["safe_boot"], pins["buzzer"], pins["rotation"], pins["bench"])
    assert (rig.BATTERY_ADC, rig.PRESSURE_ADC) == (pins["battery"] - 26, pins["pressure"] - 26)   # ADCn = GP26+n
