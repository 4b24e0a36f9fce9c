"""Command table and the read-only commands. Each handler validates every argument before it changes
anything, then acts; handlers take (pump, request dict) and return a dict of results (or None).
Values cross the link in integer base units: ng, ng/day, nL, pL, pg, seconds.
"""

from firmware import VERSION, cmd_setup, cmd_therapy, units
from firmware.errors import E_NOT_SUPPORTED, CommandError
from firmware.params import begin, only
from firmware.timebase import WALL_MAX_S


def info(pump, req):
    only(req)
    return {"firmware": VERSION, "board": pump.hw.board, "serial": pump.hw.serial_no}


def status(pump, req):
    only(req)
    acct = pump.acct
    cfg = pump.config
    return {
        "t_s": pump.timebase.wall_s,
        "therapy": pump.therapy.describe(),
        "rate_nl_day": pump.planner.rate_nl_day if pump.planner.running else 0,
        "bolus": pump.bolus.describe(),
        "demand": pump.demand.describe(),
        "bridge_left_pl": pump.bridge_volume_pl(),
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
        "refill_due_s": pump.refill_due_s,
        "alarms": pump.alarms.summary(pump.timebase.wall_s),
        "safe_state": pump.safe,
        "stopped_by": pump.supervisor.stop_names(pump.stop_mask),
        "battery_mv": pump.supervisor.battery.last_mv,
        "battery_eri_due_s": pump.supervisor.battery.eri_due_s(),
        "pressure_mv": pump.supervisor.line.last_mv,
        "guard": {"window_pulses": pump.supervisor.guard.window_pulses,
                  "limit_pulses": pump.supervisor.guard.limit(pump.timebase.mono_s()),
                  "assumed_pulses": pump.supervisor.guard.assumed(pump.timebase.mono_s())},
        "wakeups": pump.wakeups,
    }


def log(pump, req):
    only(req, "since", "limit")
    since = units.whole_int(req, "since", 0, (1 << 30) - 1, required=False, default=0)
    limit = units.whole_int(req, "limit", 1, 64, required=False, default=32)
    recs = pump.log.records(since, limit)
    events = [{"seq": r[0], "t_s": r[1], "type": r[2], "data": r[3]} for r in recs]
    return {"events": events, "next": pump.log.next_seq, "dropped": pump.log.dropped}


def ack(pump, req):
    """Acknowledge: silences the tones for a while; the alarms stay active until their cause is gone.
    With nothing sounding (no alarm, or every one already silenced) an ack changes nothing and writes
    nothing: a silence is not stretched by pressing again, and a repeated ack cannot wear the flash."""
    only(req)
    wall = pump.timebase.wall_s
    sounding = False
    for entry in pump.alarms.active.values():
        if entry[2] <= wall:
            sounding = True
    if not sounding:
        return {"acknowledged": []}
    begin(pump)
    codes = pump.alarms.ack(pump.timebase.wall_s)
    return {"acknowledged": codes}


def selftest(pump, req):
    """Alarm self-test: sounds the critical pattern, then the non-critical one, once each."""
    only(req)
    begin(pump)
    pump.alarms.self_test()
    pump.log.add(pump.timebase.wall_s, "selftest", None)
    return {"patterns": ["critical", "non-critical"]}


def set_time(pump, req):
    """Set the wall clock (s since 2024-01-01 00:00 UTC). Delivery runs on ticks, so a jump can neither
    repeat nor skip steps; lockouts and 24 h windows run on monotonic time. Logged with old and new."""
    only(req, "wall_s")
    wall = units.whole_int(req, "wall_s", 0, WALL_MAX_S)     # up to 2045: seconds stay small ints (timebase)
    begin(pump)
    tb = pump.timebase
    old = tb.wall_s
    jump = tb.set_wall(wall)
    pump.hw.clock.set_rtc_s(wall)
    pump.log.add(wall, "clock_set", {"old_s": old, "new_s": wall, "jump_s": jump})
    pump.apply_basal()        # a flex schedule follows the corrected clock
    pump.update_forecast()
    pump.journal_soon()
    return {"old_s": old, "new_s": wall, "jump_s": jump}


def bench(pump, req):
    """Simulator-only commands (time control, mock pump state): handed to the board's bench."""
    if pump.hw.bench is None:
        raise CommandError(E_NOT_SUPPORTED, "bench commands exist only on the simulator")
    return pump.hw.bench.handle(pump, req)


_TABLE = {
    "info": info,
    "status": status,
    "log": log,
    "program": cmd_therapy.program,
    "bolus": cmd_therapy.bolus,
    "prime": cmd_therapy.prime,
    "demand": cmd_therapy.demand,
    "calibrate": cmd_therapy.calibrate,
    "ack": ack,
    "set_time": set_time,
    "selftest": selftest,
    "refill": cmd_setup.refill,
    "set": cmd_setup.set_config,
}


def lookup(cmd):
    if cmd.startswith("sim."):
        return bench
    return _TABLE.get(cmd)
