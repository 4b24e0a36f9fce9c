"""The read-only commands and the small ones (info, status, ack, selftest, set_time, the bench).
Each handler takes (ctl, request dict) (firmware/control.py) and returns a dict of results (or None);
it validates every argument before it changes anything. Values cross the link in integer base units:
ng, ng/day, nL, pL, pg, seconds. Loaded on demand by firmware/protocol.py, like every handler module.
"""

from firmware import VERSION, units
from firmware.errors import E_NOT_SUPPORTED, CommandError
from firmware.params import only
from firmware.timebase import WALL_MAX_S


def info(ctl, req):
    only(req)
    return {"firmware": VERSION, "board": ctl.hw.board, "serial": ctl.hw.serial_no}


def status(ctl, req):
    only(req)
    acct = ctl.acct
    cfg = ctl.config
    sup = ctl.supervisor
    wall = ctl.wall_s()
    mono = ctl.mono_s()
    return {
        "t_s": wall,
        "therapy": ctl.therapy().describe(),
        "rate_nl_day": ctl.rate_now_nl_day(),
        "bolus": ctl.bolus.describe(),
        "demand": ctl.demand.describe(),
        "bridge_left_pl": ctl.bridge_volume_pl(),
        "drug": acct.drug,
        "conc_mcg_ml": acct.conc_mcg_ml,
        "step_pl": acct.step_pl,
        "steps": acct.steps,
        "delivered_pl": acct.delivered_pl(),
        "delivered_pg": acct.delivered_pg(),
        "reservoir_pl": acct.reservoir_pl(),
        "low_reservoir_nl": cfg.low_reservoir_nl,
        "capacity_nl": cfg.reservoir_capacity_nl,
        "minimum_nl_day": cfg.minimum_nl_day,
        "catheter_volume_nl": cfg.catheter_volume_nl,
        "max_rate_nl_day": cfg.max_rate_nl_day,
        "refill_due_s": ctl.refill_due_s(),
        "alarms": ctl.alarms.summary(wall),
        "safe_state": ctl.in_safe_state(),
        "stopped_by": ctl.stopped_by(),
        "battery_mv": sup.battery.last_mv,
        "battery_eri_due_s": sup.battery.eri_due_s(),
        "pressure_mv": sup.line.last_mv,
        "guard": {"window_pulses": sup.guard.window_pulses,
                  "limit_pulses": sup.guard.limit(mono),
                  "assumed_pulses": sup.guard.assumed(mono)},
        "wakeups": ctl.wakeups(),
    }


def ack(ctl, req):
    """Acknowledge: silences the tones for a while; the alarms stay active until their cause is gone.
    With nothing sounding (no alarm, or every one already silenced) an ack changes nothing and writes
    nothing: a silence is not stretched by pressing again, and a repeated ack cannot wear the flash."""
    only(req)
    wall = ctl.wall_s()
    if not ctl.alarms.sounding(wall):
        return {"acknowledged": []}
    ctl.begin()
    return {"acknowledged": ctl.alarms.ack(wall)}


def selftest(ctl, req):
    """Alarm self-test: sounds the critical pattern, then the non-critical one, once each."""
    only(req)
    ctl.begin()
    ctl.alarms.self_test()
    ctl.log.add(ctl.wall_s(), "selftest", None)
    return {"patterns": ["critical", "non-critical"]}


def set_time(ctl, req):
    """Set the wall clock (s since 2024-01-01 00:00 UTC). Delivery runs on ticks, so a jump can neither
    repeat nor skip steps; lockouts and 24 h windows run on monotonic time. Logged with old and new."""
    only(req, "wall_s")
    wall = units.whole_int(req, "wall_s", 0, WALL_MAX_S)     # up to 2045: seconds stay small ints (timebase)
    ctl.begin()
    old = ctl.wall_s()
    jump = ctl.set_wall_clock(wall)
    ctl.log.add(wall, "clock_set", {"old_s": old, "new_s": wall, "jump_s": jump})
    ctl.commit()              # a flex schedule follows the corrected clock
    return {"old_s": old, "new_s": wall, "jump_s": jump}


def bench(ctl, req):
    """Simulator-only commands (time control, mock pump state): handed to the board's bench."""
    bench = ctl.hw.bench
    if bench is None:
        raise CommandError(E_NOT_SUPPORTED, "bench commands exist only on the simulator")
    return bench.handle(ctl.pump_for_bench(), req)
