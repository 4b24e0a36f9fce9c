"""pumpctl ui in a real browser: headless Chromium (Debian's /usr/bin/chromium, driven by Playwright,
never a browser download) on the dashboard of a served simulator (`pumpctl sim serve`), as a bench
tester uses it: refill and program through the page (each reviewed, then confirmed), run a simulated
day, read the delivered volume and the alarm, acknowledge it, inject a stall and see the banner, try a
refused command, lose the simulator.

It is one test made of steps in order, on one browser and one simulator: pytest-xdist may tear a
module fixture down between two tests of a worker, so a session split into tests would not survive
it. Screenshots go to build/ui-artifacts/ (`make ui-img` copies dashboard.png to docs/img/).
Expected numbers come from the programme (tests_host/test_ui_api.py derives them); the soft limit
(baclofen 1000 mcg/day) from firmware/druglib.py.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "build" / "ui-artifacts"
CHROMIUM = os.environ.get("PUMPCTL_UI_CHROMIUM", "/usr/bin/chromium")
PUMPCTL = [sys.executable, "-m", "pumpctl.cli"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DAY_UL = (8 * 400 + 16 * 900) / 24 / 2000 * 1000       # 366.667 uL: see test_ui_api.py
WAIT_MS = 15000

pytestmark = pytest.mark.xdist_group("ui")


def _no_browser():
    try:
        import aiohttp  # noqa: F401
        import playwright.sync_api  # noqa: F401
    except ImportError as exc:
        return "%s is not installed (requirements-dev.txt)" % exc.name
    if not os.access(CHROMIUM, os.X_OK):
        return "no browser at %s: `make ui-browser` installs Debian's chromium (as root)" % CHROMIUM
    return None


if _no_browser():
    pytest.skip(_no_browser(), allow_module_level=True)

from playwright.sync_api import expect, sync_playwright  # noqa: E402


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _first_line(proc, what):
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise AssertionError("%s did not start: %s" % (what, proc.stderr.read()[-2000:]))
    return line


def _stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for stream in (proc.stdout, proc.stderr):
        stream.close()


@pytest.fixture(scope="module")
def served():
    """A served simulator, `pumpctl ui` attached to it as a bench tester starts them, and a browser on
    the page. The programs start while Playwright's driver and the browser come up (the slow part)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    profile = tempfile.mkdtemp(prefix="pumpctl-ui-chromium-")
    sim = subprocess.Popen(PUMPCTL + ["sim", "serve", "--listen", str(_free_port())], cwd=str(ROOT), text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    ui = None
    pw = sync_playwright().start()
    try:
        where = _first_line(sim, "pumpctl sim serve")
        ui = subprocess.Popen(PUMPCTL + ["ui", "--port", where, "--dev-keys", "--listen", "127.0.0.1:0",
                                         "--poll-s", "0.3"],
                              cwd=str(ROOT), text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        # a fresh profile (--user-data-dir) through Playwright's persistent context; --headless is in FLAGS
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, headless=True, args=FLAGS, viewport={"width": 1280, "height": 900})
        url = _first_line(ui, "pumpctl ui")
        assert re.match(r"^http://127\.0\.0\.1:\d+/$", url), url
        page = context.new_page()
        page.errors = []
        page.on("pageerror", lambda exc: page.errors.append(str(exc)))
        page.goto(url)
        yield {"url": url, "sim": sim, "ui": ui, "page": page}
        context.close()
    finally:
        pw.stop()
        for proc in (ui, sim):
            if proc is not None:
                _stop(proc)
        shutil.rmtree(profile, ignore_errors=True)


def shot(page, name, full=True):
    page.screenshot(path=str(ARTIFACTS / name), full_page=full)


def number(text):
    return float(re.search(r"-?\d+(\.\d+)?", text).group(0))


def review_and_confirm(page, form, rows):
    page.locator("%s button[type=submit]" % form).click()
    dialog = page.locator("#review")
    expect(dialog).to_be_visible()
    for row in rows:
        expect(dialog.locator("#review-table")).to_contain_text(row, timeout=WAIT_MS)
    return dialog


def step_refill_and_program_through_the_page(page):
    expect(page.locator("#conn")).to_have_text("live", timeout=WAIT_MS)
    expect(page.locator("#kind")).to_have_text("simulator")
    expect(page.locator("#card-sim")).to_be_visible()

    page.locator("button[data-tab=refill]").click()
    page.select_option("#r-drug", "baclofen")
    page.select_option("#r-conc", "2000")
    page.fill("#r-volume", "2.2")
    dialog = review_and_confirm(page, "#form-refill", ["0.000 mL (estimate)", "2.200 mL", "2000 mcg/mL"])
    dialog.locator("#review-confirm").click()
    expect(dialog).to_be_hidden()
    expect(page.locator("#drug")).to_have_text("baclofen, 2000 mcg/mL", timeout=WAIT_MS)
    expect(page.locator("#reservoir")).to_contain_text("2.200 mL of 20.0 mL")

    # above the drug's soft limit (baclofen: 1000 mcg/day) the review needs the limit confirmed first
    page.locator("button[data-tab=program]").click()
    page.fill("#p-dose", "1500")
    page.locator("#form-program button[type=submit]").click()
    dialog = page.locator("#review")
    expect(dialog.locator("#review-soft")).to_contain_text("exceeds the soft limit 1000 mcg", timeout=WAIT_MS)
    expect(dialog.locator("#review-confirm")).to_be_disabled()
    dialog.locator("#review-soft-ok").check()
    expect(dialog.locator("#review-table")).to_contain_text("continuous 1500 mcg/day", timeout=WAIT_MS)
    dialog.locator("#review-cancel").click()                           # not applied
    expect(dialog).to_be_hidden()

    page.select_option("#p-mode", "flex")
    steps = page.locator("#p-steps .step")
    steps.nth(0).locator("input").nth(0).fill("00:00")
    steps.nth(0).locator("input").nth(1).fill("400")
    steps.nth(1).locator("input").nth(0).fill("08:00")
    steps.nth(1).locator("input").nth(1).fill("900")
    dialog = review_and_confirm(page, "#form-program",
                                ["stopped", "flex (day): 400 from 00:00, 900 from 08:00 mcg/day"])
    expect(dialog.locator("td.changed").first).to_be_visible()
    shot(page, "review_program.png", full=False)
    dialog.locator("#review-confirm").click()
    expect(page.locator("#mode")).to_contain_text("flex (day)", timeout=WAIT_MS)
    expect(page.locator("#dose")).to_have_text("400")                    # 00:00: the first step
    expect(page.locator("#rate")).to_have_text("8.333")                  # 400 mcg/day / 2000 mcg/mL / 24 h
    expect(page.locator("#log tbody tr.program")).to_contain_text("stopped -> flex (day)")


def step_a_simulated_day_delivers_and_raises_the_low_alarm(page):
    page.locator("button[data-run='86400']").click()
    expect(page.locator("#sim-time")).to_have_text("virtual time 1 d 0 h", timeout=WAIT_MS)
    expect(page.locator("#clock")).to_have_text("2024-01-02 00:00 UTC")
    delivered = number(page.locator("#sim-counted").inner_text())
    assert abs(delivered - DAY_UL) <= 0.05, delivered                     # within one 50 nL step
    assert number(page.locator("#sim-moved").inner_text()) == delivered   # the mock moved what was counted
    expect(page.locator("#delivered")).to_contain_text("%.2f uL" % delivered)

    alarm = page.locator("#alarms li[data-code=LOW_RESERVOIR]")
    expect(alarm).to_be_visible()
    expect(alarm).to_have_class("non-critical")
    expect(alarm).to_contain_text("since 2024-01-01 15:06 UTC")
    expect(alarm).to_contain_text("3 pulses at 660 Hz")
    # the delivery chart has its samples: delivered and the mock's true volume, and the rate
    assert page.locator("#delivery-chart polyline").count() == 2
    # the event log grew, and filters
    expect(page.locator("#log tbody tr.alarm_raise")).to_contain_text("LOW_RESERVOIR (non-critical)")
    page.fill("#log-filter", "low_reservoir")
    visible = page.locator("#log tbody tr:not(.hidden)")
    expect(visible).to_have_count(1)
    page.fill("#log-filter", "")
    page.select_option("#log-type", "refill")
    expect(visible).to_have_count(1)
    page.select_option("#log-type", "")

    page.locator("#ack").click()
    expect(alarm.locator(".tag", has_text="silenced")).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("#log tbody tr.alarm_ack")).to_contain_text("acknowledged: LOW_RESERVOIR")
    page.evaluate("document.querySelector('#toasts').replaceChildren(); window.scrollTo(0, 0)")   # for the README
    shot(page, "dashboard.png", full=True)


def step_a_stall_shows_the_banner_and_a_refused_command(page):
    page.locator("button[data-fault=motor_stall]").click()
    expect(page.locator("#sim-faults")).to_contain_text("motor stall", timeout=WAIT_MS)
    page.locator("button[data-run='3600']").click()
    banner = page.locator("#banner-stopped")
    expect(banner).to_contain_text("Delivery stopped: motor stall", timeout=WAIT_MS)
    stall = page.locator("#alarms li[data-code=MOTOR_STALL]")
    expect(stall).to_have_class("critical")
    expect(stall).to_contain_text("880/660 Hz")
    expect(page.locator("#alarms li").first).to_have_attribute("data-code", "MOTOR_STALL")   # critical first
    expect(page.locator("#banner-run")).to_have_count(0, timeout=WAIT_MS)                     # the hour is done
    # the stalled pump emits pulses the mock does not turn: the firmware counts more than moved
    counted, moved = (number(page.locator(s).inner_text()) for s in ("#sim-counted", "#sim-moved"))
    assert counted > moved
    shot(page, "stall.png", full=False)

    # a bolus while delivery is stopped: reviewed, confirmed, and refused by the pump
    page.locator("button[data-tab=bolus]").click()
    page.fill("#b-dose", "10")
    page.fill("#b-duration", "10m")
    dialog = review_and_confirm(page, "#form-bolus", ["10 mcg over 10m", "5.00 uL of baclofen 2000 mcg/mL"])
    dialog.locator("#review-confirm").click()
    refused = page.locator("#banner-alert")
    expect(refused).to_contain_text("bolus refused: E_STATE", timeout=WAIT_MS)
    expect(refused).to_contain_text("motor stall")
    shot(page, "refused.png", full=False)
    refused.locator("button.x").click()
    expect(refused).to_have_count(0)


def step_phone_sized_window(page):
    page.set_viewport_size({"width": 390, "height": 844})
    page.wait_for_timeout(400)                                           # the charts redraw at the new width
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0, "the page scrolls sideways by %d px on a phone" % overflow
    size = page.evaluate("parseFloat(getComputedStyle(document.querySelector('#card-therapy dd')).fontSize)")
    assert size >= 13
    box = page.locator("#card-therapy").bounding_box()
    assert box["width"] >= 340                                            # one column, full width
    page.evaluate("document.querySelector('#toasts').replaceChildren(); window.scrollTo(0, 0)")
    shot(page, "phone.png", full=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def step_losing_the_simulator_shows_a_banner(page, served):
    served["sim"].send_signal(signal.SIGTERM)
    served["sim"].wait(timeout=10)
    banner = page.locator("#banner-link")
    expect(banner).to_contain_text("Link to the pump lost", timeout=WAIT_MS)
    expect(page.locator("#conn")).to_have_text("link down")
    # the page is not frozen: it still shows the last values and keeps running
    expect(page.locator("#sim-counted")).to_contain_text("uL")
    shot(page, "link_lost.png", full=False)
    assert page.errors == []


def test_bench_session_in_the_browser(served):
    page = served["page"]
    step_refill_and_program_through_the_page(page)
    step_a_simulated_day_delivers_and_raises_the_low_alarm(page)
    step_a_stall_shows_the_banner_and_a_refused_command(page)
    step_phone_sized_window(page)
    step_losing_the_simulator_shows_a_banner(page, served)
