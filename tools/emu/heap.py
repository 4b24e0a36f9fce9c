"""The pump's heap on the emulated Pico (the real 32-bit MicroPython heap of the RPI_PICO image), for
`make bench`:

    python tools/emu/heap.py            # JSON: the figures below
    bench_rows()                        # (quantity, measured, budget) rows for tools/bench.py

1. after boot: the `make build BOARD=pico` deploy (.mpy files on the flash, loaded into RAM, as most
   users run it) boots with the bench jumper closed; the bench's `sim.state` reports gc.mem_alloc() and
   gc.mem_free() after a collection: the heap in use once the pump runs.
2. peak of a therapy run: the same deploy with tools/emu/heap_main.py as /main.py (the pump built by
   boards/start.py, a collection before every main-loop pass, gc.mem_alloc() after it); a session of
   provisioning, calibration, refill, programmes (a 12-step flex one), a prime, delivery, an alarm,
   status and a 64-record log export; the largest figure of any pass.
Budgets: issue 15's goal, <= 72 KB in use after boot and <= 88 KB at the peak.
"""

import json
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)

import mkfs  # noqa: E402
import pico  # noqa: E402

BOOT_BUDGET = 72 * 1024
PEAK_BUDGET = 88 * 1024


def _therapy_session(p, keys):
    """What a pump's first day brings, over its link; returns the last sim.state."""
    from pumpctl import keys as keyfile
    link = p.boot_link(keys=keys)
    link.request_as(None, "keys.provision", **keyfile.provision_args(keys))
    link.call("set", nl_per_step=52)
    link.call("refill", drug="baclofen", conc_mcg_ml=500, volume_ml=20)
    link.call("set", max_rate_ul_h=10000)
    link.call("program", mode="continuous", dose_mcg_day=500, confirm=True)
    link.call("prime", volume_ul=5)
    p.wait_emulated(5)
    steps = [{"start_s": i * 7200, "dose_mcg_day": 400 + 10 * i} for i in range(12)]
    link.call("program", mode="flex", cycle="day", steps=steps, confirm=True)
    p.set_adc(pico.BATTERY_ADC, pico.raw12(1750))        # 3.5 V: BATTERY_ERI after three readings
    p.wait_emulated(20)
    link.call("status")
    link.call("log", since=0, limit=64)
    link.call("keys.state")
    return link.call("sim.state")


def measure(keep=None):
    """{"boot": {alloc, free}, "peak": {alloc, free, passes}} in bytes; raises pico.EmulatorError."""
    from pumpctl import keys as keyfile
    tmp = keep or tempfile.mkdtemp(prefix="pump-heap-")
    try:
        tree = mkfs.deploy_tree("mpy", os.path.join(tmp, "tree"))
        img = mkfs.image(tree, os.path.join(tmp, "boot.img"))
        keys = keyfile.generate()
        p = pico.EmulatedPico(img, gpio={pico.BENCH: 0}).start()
        try:
            state = p.boot_link(keys=keys).call("sim.state")
        finally:
            p.stop()
        boot = {"alloc": state["heap_alloc"], "free": state["heap_free"]}
        shutil.copyfile(os.path.join(HERE, "heap_main.py"), os.path.join(tree, "main.py"))
        img = mkfs.image(tree, os.path.join(tmp, "peak.img"))
        p = pico.EmulatedPico(img, gpio={pico.BENCH: 0}).start()
        try:
            state = _therapy_session(p, keys)
        finally:
            p.stop()
        return {"boot": boot, "peak": state["heap_peak"]}
    finally:
        if keep is None:
            shutil.rmtree(tmp, ignore_errors=True)


def _kb(n):
    return "%.1f KB" % (n / 1024)


def bench_rows():
    """(quantity, measured, budget) rows; one row saying why when the emulated Pico is unavailable."""
    reason = pico.unavailable()
    if reason:
        return [("heap on the emulated Pico", "not measured: " + reason, "-")]
    try:
        m = measure()
    except pico.EmulatorError as exc:
        return [("heap on the emulated Pico", "failed: %s" % str(exc).splitlines()[0], "-")]
    boot, peak = m["boot"], m["peak"]
    total = boot["alloc"] + boot["free"]

    def figure(d, budget):
        return "%s (%s free): %s" % (_kb(d["alloc"]), _kb(d["free"]), "met" if d["alloc"] <= budget else "NOT met")
    return [
        ("heap in use after boot, emulated Pico, .mpy deploy (of %s)" % _kb(total), figure(boot, BOOT_BUDGET),
         "<= %s" % _kb(BOOT_BUDGET)),
        ("heap peak of a therapy run, emulated Pico (%d wake-ups)" % peak["passes"], figure(peak, PEAK_BUDGET),
         "<= %s" % _kb(PEAK_BUDGET)),
    ]

if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
