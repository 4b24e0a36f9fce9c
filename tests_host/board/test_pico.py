"""The real deploy on an emulated Pico (RPI_PICO MicroPython v1.28 on rp2040js), as a board engineer
would check a new board, in the order a pump lives through it. The phases share one flash image:

 1. bench: a board with the firmware installed by `mpremote mip install package.json` (plain .py,
    compiled on the board at boot) boots into the pump with the bench jumper closed (GP22 to GND):
    test keys provisioned unsigned, the simulator's public development keys refused, the calibration
    written by the bench role. Power off; then `make deploy`'s step on the flash: the .mpy build
    replaces the firmware packages, /data stays;
 2. field: the .mpy deploy, jumper open: pumpctl answers over socket://; the bench's keys and
    calibration hold; refill, a prime at a high rate (STEP edges on
    the pin = the firmware's step count, EN off whenever delivery is stopped, DIR never changes);
    therapy running; Ctrl-C on the link reaches no REPL; then the power goes off mid-therapy;
 3. power back on the saved flash: settings, calibration, counters and the event log survived, the
    therapy resumes, a recorded signed frame is a replay; then the battery sags: BATTERY_ERI, then
    BATTERY_EOS stops delivery and the buzzer's PWM plays the critical pattern;
 4. safe boot (button held): REPL free, watchdog never armed, the motor driver never enabled.

The emulator's time is not real time (fast while the CPU sleeps, slow while it works): everything here
is behaviour, counted in emulated time or in edges, never a speed.
"""

import json
import os
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import mkfs
import pico
import pytest
from pico import BATTERY_ADC, BENCH, BUTTON, DIR, EN, STEP, raw12
from pumpctl import keys as keyfile

pytestmark = pytest.mark.xdist_group("board")

ROOT = pico.ROOT
STEP_NL = 52                 # the bench's calibration (nominal step 50 nL, +4 %)
CONC_MCG_ML = 50
DOSE_MCG_DAY = 216           # 4.32 mL/day: 83 077 steps/day of 52 nL, about one a second
PRIME_UL = 5
MAX_RATE_UL_H = 10000        # the highest rate a clinician may set: 53 steps/s of 52 nL
HOUSEKEEPING_S = 4           # boards/pico/board.py HOUSEKEEPING_MS; it may run half a period late
BATTERY_HOLD = 3             # readings below a threshold before its alarm (firmware/monitors.py)


def battery_raw(battery_mv):
    """ADC reading of a battery voltage behind the Pico board's 1:2 divider."""
    return raw12(battery_mv // 2)


@pytest.fixture(scope="module")
def rig(mip_tree, mpy_tree, tmp_path_factory):
    """What the phases share: the board's flash image (the mip install first), fresh test keys (and
    their key file), the .mpy build to deploy after the bench."""
    tmp = tmp_path_factory.mktemp("pico")
    flash = mkfs.image(mip_tree, str(tmp / "flash.img"))
    keys = keyfile.generate()
    key_file = str(keyfile.save(tmp / "keys.json", keys))
    return SimpleNamespace(tmp=tmp, flash=flash, keys=keys, key_file=key_file, mpy_tree=mpy_tree, saved={})


def _boot(rig, name, **kw):
    return pico.EmulatedPico(rig.flash, save_fs=rig.flash, trace=str(rig.tmp / (name + ".trace")),
                             log=str(rig.tmp / (name + ".log")), **kw).start()


# --- 1. bench ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def bench(rig):
    p = _boot(rig, "bench", gpio={BENCH: 0})
    try:
        link = p.boot_link(keys=rig.keys)
        out = {"info": link.call("info"),
               "before": link.call("keys.state"),
               "dev": link.request_as(None, "keys.provision", **keyfile.provision_args(keyfile.dev_keys())),
               "provision": link.request_as(None, "keys.provision", **keyfile.provision_args(rig.keys)),
               "calibrate": link.request_as("bench", "set", nl_per_step=STEP_NL),
               "bench_state": link.request("sim.state"),
               "after": link.call("keys.state")}
        out["emu"] = p.state()
        out["repl"] = _repl_exec(p, "import os; print(sorted(os.listdir('/')))")
    finally:
        p.stop()
    out["files"] = sorted(mkfs.read_files(rig.flash))
    mkfs.redeploy(rig.flash, rig.mpy_tree)
    return out


def _repl_exec(p, code, timeout_s=5):
    """What mpremote does to take a board over (Ctrl-C, Ctrl-A: the raw REPL), then `code`: its
    output, or the TransportError when no REPL answered."""
    from mpremote.transport import TransportError
    from mpremote.transport_serial import SerialTransport
    p.close_links()
    t = SerialTransport(p.url, timeout=1)
    try:
        t.enter_raw_repl(soft_reset=False, timeout_overall=timeout_s)
        out, err = t.exec_raw(code, timeout=60)
        t.exit_raw_repl()
        return out.decode() + err.decode()
    except TransportError as exc:
        return exc
    finally:
        t.close()


def test_bench_provisions_keys_and_calibration(bench):
    """A factory-new board with the mip install on the bench: the pump runs (its .py compiled on the
    board); no keys; the public development keys are refused; fresh keys are accepted unsigned; the
    bench role writes the calibration; bench readings are live; the records are on the flash."""
    from firmware import VERSION
    assert bench["info"]["board"] == "pico" and bench["info"]["firmware"] == VERSION
    assert "/lib/firmware/app.py" in bench["files"] and "/lib/firmware/app.mpy" not in bench["files"]
    assert {"/data/settings", "/data/auth"} <= set(bench["files"])
    assert bench["before"]["bench"] is True
    assert not any(r["key"] for r in bench["before"]["roles"].values())
    assert bench["dev"]["ok"] is False and bench["dev"]["error"] == "E_ARG_RANGE", bench["dev"]
    assert bench["provision"]["ok"] is True, bench["provision"]
    assert sorted(bench["provision"]["roles"]) == ["bench", "clinician", "patient"]
    assert bench["calibrate"]["ok"] is True, bench["calibrate"]
    assert bench["calibrate"]["changes"]["step_pl"] == [50_000, STEP_NL * 1000]
    assert bench["after"]["roles"]["bench"]["ctr"] == 1
    state = bench["bench_state"]
    assert state["ok"] and state["board"] == "pico" and state["enabled"] is False
    assert abs(state["battery_mv"] - 4000) <= 5      # 4.0 V through the 1:2 divider and the 12-bit ADC
    assert bench["emu"]["wdt"]["triggers"] == 0


def test_on_the_bench_mpremote_takes_the_board_over(bench):
    """Bench jumper closed: Ctrl-C stops the pump and mpremote reaches the raw REPL (tools/deploy/deploy.py's
    way onto a running board); the flash holds the firmware and its records."""
    assert isinstance(bench["repl"], str), bench["repl"]
    assert "'data'" in bench["repl"] and "'lib'" in bench["repl"] and "'main.py'" in bench["repl"]


# --- 2. field -----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def field(rig, bench):
    p = _boot(rig, "field")
    try:
        p.boot_link()
        p.close_links()
        yield p
    finally:
        p.stop()


def _pumpctl(rig, *args):
    env = dict(os.environ, PUMPCTL_KEYS=rig.key_file)
    exe = os.path.join(os.path.dirname(sys.executable), "pumpctl")
    proc = subprocess.run([exe] + list(args), capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_pumpctl_info_and_status_over_the_socket(rig, field):
    """The .mpy deploy boots into the pump (not the REPL); pumpctl reaches it with --port socket://."""
    from firmware import VERSION
    files = mkfs.read_files(rig.flash)      # the image the field boot started from
    assert "/lib/firmware/app.mpy" in files and "/lib/firmware/app.py" not in files
    info = _pumpctl(rig, "info", "--port", field.url, "--json")
    assert info["ok"] and info["board"] == "pico" and info["firmware"] == VERSION
    assert len(info["serial"]) == 16 and int(info["serial"], 16) >= 0    # the flash chip's unique id
    status = _pumpctl(rig, "status", "--port", field.url, "--json")
    assert status["ok"] and status["safe_state"] is False and status["therapy"] == {"mode": "stopped"}
    assert status["step_pl"] == STEP_NL * 1000, "the bench's calibration must survive the reboot"
    assert abs(status["battery_mv"] - 4000) <= 5
    assert field.state()["wdt"]["enabled"] is True, "the pump's loop arms the watchdog"


def test_bench_is_off_in_the_field(rig, field):
    """Jumper open: the bench role and bench commands are refused, the keys are there."""
    link = field.link(keys=rig.keys)
    state = link.call("keys.state")
    assert state["bench"] is False and all(r["key"] for r in state["roles"].values())
    assert link.request("sim.state")["error"] == "E_BENCH_DISABLED"
    rig.saved["ctr_bench"] = state["roles"]["bench"]["ctr"]


def test_prime_steps_on_the_pin_equal_the_firmware_count(rig, field):
    """A prime at the highest rate: every STEP rising edge on GP2 is a step the firmware counted, no
    more, no fewer; EN (GP4, active low) is low for every edge and high again once the prime is done;
    DIR (GP3) keeps its forward level; the rotor and pressure sensors agree that the pump moved."""
    link = field.link(keys=rig.keys)
    assert link.call("refill", drug="baclofen", conc_mcg_ml=CONC_MCG_ML, volume_ml=20)["ok"]
    assert link.call("set", max_rate_ul_h=MAX_RATE_UL_H)["ok"]
    before = link.call("status")
    pins0 = field.state()["pins"]
    reply = link.call("prime", volume_ul=PRIME_UL)
    expected = PRIME_UL * 1_000_000 // (STEP_NL * 1000)          # whole steps of 52 nL in 5 uL: 96
    assert reply["steps"] == expected == 96
    # 96 steps at 10 mL/h take 1.8 s of pump time
    deadline = time.monotonic() + 120
    while True:
        status = link.call("status")
        if status["bolus"] is None:
            break
        assert time.monotonic() < deadline, status
        field.wait_emulated(1)
    pins = field.state()["pins"]
    steps = status["steps"] - before["steps"]
    assert steps == expected
    assert pins[str(STEP)]["rises"] - pins0[str(STEP)]["rises"] == expected
    assert pins[str(EN)]["level"] == 1 and status["rate_nl_day"] == 0, "delivery stopped: driver off"
    # the rig's rotor pulsed GP16 and its line pressure rose on ADC1 with every step: the hard-IRQ edge
    # counter and the ADC saw them (else MOTOR_STALL after 4 steps, DISCONNECT after 8)
    assert status["alarms"] == [] and status["stopped_by"] == [], status["alarms"]
    assert pins[str(DIR)]["rises"] == pins[str(DIR)]["falls"] == 0 and pins[str(DIR)]["level"] == 1
    _check_trace(field.trace_events())


def _check_trace(events):
    """No STEP edge while EN is high (driver off); DIR never moves after its first setting."""
    en = None
    dir_levels = set()
    for _t, pin, level in events:
        if pin == EN:
            en = level
        elif pin == STEP and level == 1:
            assert en == 0, "a STEP pulse while the driver was disabled"
        elif pin == DIR:
            dir_levels.add(level)
    assert dir_levels <= {1}


def test_therapy_runs_and_ctrl_c_on_the_link_reaches_no_repl(rig, field):
    """Continuous therapy, then what mpremote does to take a board over (Ctrl-C, Ctrl-A for the raw
    REPL): nothing answers but the pump, which keeps delivering (issue 13 item 3)."""
    link = field.link(keys=rig.keys)
    sent = []
    send = link.send_raw
    link.send_raw = lambda data: (sent.append(data), send(data))[1]
    reply = link.request("program", mode="continuous", dose_mcg_day=DOSE_MCG_DAY, confirm=True)
    assert reply["ok"], reply
    rig.saved["frame"] = sent[-1]                    # a signed clinician frame, for the replay later
    field.wait_emulated(3)
    running = link.call("status")
    assert running["rate_nl_day"] == DOSE_MCG_DAY * 1_000_000 // CONC_MCG_ML
    assert field.state()["pins"][str(EN)]["level"] == 0, "delivering: driver on"
    field.close_links()

    sock = field.raw_serial(timeout_s=0.5)
    seen = b""
    try:
        sock.sendall(b"\x03\x03\r\n\x03")
        field.wait_emulated(2)
        sock.sendall(b"\r\n")
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            try:
                seen += sock.recv(4096)
            except socket.timeout:
                pass
    finally:
        sock.close()
    for banned in (b">>>", b"raw REPL", b"KeyboardInterrupt", b"Traceback", b"pump: "):
        assert banned not in seen, seen
    assert not isinstance(_repl_exec(field, "print(1)"), str), "no REPL in the field"
    link = field.link(keys=rig.keys)
    field.wait_emulated(3)
    after = link.call("status")
    assert after["safe_state"] is False and after["alarms"] == [], after["alarms"]
    assert after["steps"] >= running["steps"] + 3, "the therapy goes on"
    assert field.state()["pins"][str(EN)]["level"] == 0
    rig.saved["before_cut"] = {"status": after, "keys": link.call("keys.state"),
                               "log": link.call("log", since=0, limit=64)}


def test_power_cut_mid_therapy(rig, field):
    """The power goes off while the therapy runs: the flash is kept (the emulator writes it back)."""
    pins = field.state()["pins"]
    assert pins[str(EN)]["level"] == 0
    events = field.trace_events()
    field.stop()
    _check_trace(events)
    assert os.path.getsize(rig.flash) == 1408 * 1024


# --- 3. after the power cut ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def resumed(rig, bench):
    assert "before_cut" in rig.saved, "needs the field phase"
    p = _boot(rig, "resumed")
    try:
        p.boot_link()
        yield p
    finally:
        p.stop()


def test_settings_calibration_counters_and_log_survive(rig, resumed):
    link = resumed.link(keys=rig.keys)
    before = rig.saved["before_cut"]
    status = link.call("status")
    for key in ("step_pl", "conc_mcg_ml", "therapy", "max_rate_nl_day", "drug", "capacity_nl",
                "low_reservoir_nl"):
        assert status[key] == before["status"][key], key
    assert status["step_pl"] == STEP_NL * 1000
    # Counts come back from the journal (written on every change and hourly, not per step: flash
    # wear); the steps since it are unknown to the firmware, which books a reserve instead: the
    # reservoir estimate must be at or below the truth, never above it.
    uncounted = before["status"]["steps"] - status["steps"]
    assert 0 <= uncounted, "never more counted than delivered"
    assert status["reservoir_pl"] <= before["status"]["reservoir_pl"], "the reservoir estimate errs low"
    keys = link.call("keys.state")
    for role in ("clinician", "patient", "bench"):   # reserved in leases: they may jump ahead, never back
        assert keys["roles"][role]["key"] is True
        assert keys["roles"][role]["ctr"] >= before["keys"]["roles"][role]["ctr"], role
    log = link.call("log", since=0, limit=64)
    old = before["log"]["events"]
    assert log["events"][:len(old)] == old, "every record from before the cut, unchanged"
    new = log["events"][len(old):]
    assert [r["type"] for r in new][:2] == ["reset", "boot"], new
    reset = new[0]["data"]
    assert reset["cause"] == "power_on" and new[1]["data"]["cause"] == "power_on"
    assert reset["reserve_nl"] * 1000 >= uncounted * STEP_NL * 1000, "the reserve covers every uncounted step"


def test_therapy_resumes_and_a_recorded_frame_is_a_replay(rig, resumed):
    link = resumed.link(keys=rig.keys)
    first = link.call("status")
    resumed.wait_emulated(4)
    later = link.call("status")
    assert later["rate_nl_day"] == DOSE_MCG_DAY * 1_000_000 // CONC_MCG_ML
    assert later["steps"] >= first["steps"] + 2, "delivery resumed by itself"
    assert resumed.state()["pins"][str(EN)]["level"] == 0
    frame = rig.saved["frame"]
    req_id = json.loads(frame[:frame.rindex(b"~")])["id"]
    link.send_raw(frame)
    reply = link._await("program", req_id)
    assert reply["ok"] is False and reply["error"] == "E_AUTH_REPLAY", reply


def test_battery_eri_then_eos_stops_delivery_and_sounds_the_critical_pattern(rig, resumed):
    """Battery ADC (GP26) sags below ERI (3.6 V): BATTERY_ERI, delivery goes on; below EOS (3.4 V):
    BATTERY_EOS stops delivery (EN high, no more STEP edges) and the buzzer's PWM on GP15 plays the
    critical pattern: two bursts of five 100 ms pulses, 880/660/880/660/880 Hz, 100 ms apart, 400 ms
    between the bursts (docs and firmware/tones.py; IEC 60601-1-8 high priority)."""
    link = resumed.link(keys=rig.keys)
    resumed.set_adc(BATTERY_ADC, battery_raw(3500))
    resumed.wait_emulated(HOUSEKEEPING_S * (BATTERY_HOLD + 1))
    status = link.call("status")
    codes = {a["code"] for a in status["alarms"]}
    assert codes == {"BATTERY_ERI"}, status["alarms"]
    assert status["stopped_by"] == [] and resumed.state()["pins"][str(EN)]["level"] == 0
    resumed.set_adc(BATTERY_ADC, battery_raw(3300))
    resumed.wait_emulated(HOUSEKEEPING_S * (BATTERY_HOLD + 1))
    status = link.call("status")
    codes = {a["code"] for a in status["alarms"]}
    assert codes == {"BATTERY_ERI", "BATTERY_EOS"}, status["alarms"]
    assert status["stopped_by"] == ["battery EOS"] and status["rate_nl_day"] == 0
    st = resumed.wait_emulated(3)
    assert st["pins"][str(EN)]["level"] == 1
    steps_now = link.call("status")["steps"]
    resumed.wait_emulated(3)
    assert link.call("status")["steps"] == steps_now, "no step while stopped"
    _check_pattern(resumed.state()["bursts"])
    assert resumed.state()["wdt"]["triggers"] == 0


def _check_pattern(bursts):
    """A complete critical pattern among the buzzer's bursts [start_us, end_us, rising edges]: ten pulses
    880/660 Hz, each sounding its 100 ms, 200 ms from pulse start to pulse start and 500 ms between the
    two bursts of five (docs and firmware/tones.py; IEC 60601-1-8 high priority). The state may be read
    while the newest pulse still sounds, and five pulses of one pattern followed by five of the next
    have the right tones but not the right gaps: only a window matching all three counts."""
    want = [880, 660, 880, 660, 880] * 2
    gaps_ms = [200, 200, 200, 200, 500, 200, 200, 200, 200]

    def is_pattern(window):
        for b, w in zip(window, want):
            freq = round((b[2] - 1) * 1e6 / (b[1] - b[0])) if b[1] > b[0] else 0
            if abs(freq - w) > w // 100 or abs(b[2] - w // 10) > 1:   # its tone, for 100 ms
                return False
        starts = [b[0] for b in window]
        return all(abs((b - a) / 1000 - exp) <= 2 for a, b, exp in zip(starts, starts[1:], gaps_ms))

    assert len(bursts) >= len(want), bursts
    assert any(is_pattern(bursts[i:i + len(want)]) for i in range(len(bursts) - len(want) + 1)), (
        "no complete critical pattern among the bursts %r" % bursts[-24:])


# --- 4. safe boot ----------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def safe(rig, resumed):
    resumed.stop()
    p = pico.EmulatedPico(rig.flash, gpio={BUTTON: 0}, log=str(rig.tmp / "safe.log")).start()
    yield p
    p.stop()


def test_safe_boot_with_the_button_held(rig, safe):
    """Button (GP14) held at boot: the pump does not start, the REPL answers mpremote, the watchdog is
    never armed and the motor driver's EN is never driven (the board's pull-up keeps it off)."""
    out = _repl_exec(safe, "import os; print(sorted(os.listdir('/data')))", timeout_s=60)
    assert isinstance(out, str), out
    files = json.loads(out.replace("'", '"'))
    assert {"settings", "journal", "auth"} <= set(files), files
    st = safe.state()
    assert st["wdt"]["armed_ever"] is False
    assert st["pins"][str(EN)]["level"] is None and st["pins"][str(STEP)]["rises"] == 0
