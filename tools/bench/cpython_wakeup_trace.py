"""A wake-up trace of the fault detections (issue 16): every step's virtual time and every alarm, with
the step it came after, through a day of faults injected on the simulator's bench.

    python tools/bench/cpython_wakeup_trace.py [REPO] > trace.json

REPO (default: this repository) is the tree whose firmware runs: give it an older checkout
(`git worktree add /tmp/old af9ea84`) to compare two firmwares on the same bench. Only the bench's
stable surface is used (Simulation, the refill/program/ack commands, sim.fault, sim.misbehave), so the
trace of a firmware before issue 16's work and after it can be compared line for line:
tests_host/fw/test_wakeup_trace.py holds the one recorded from commit af9ea84 (before issues 15 and
16) and checks that today's firmware reproduces it exactly.

The day: a stall, an occlusion, a disconnection, a low and an empty battery, each injected at a
time that falls between two steps and cleared later (recovery, the retry test step), then a
scheduler running 3 times too fast until the guard trips. Rate: 500 mcg/day at 2000 mcg/mL (a step
every 17.28 s); the clock starts one minute before the 2**30 tick wrap.
"""

import json
import os
import sys

import repo_path

START_TICKS = (1 << 30) - 60_000
# (second of the day, bench request): the faults, each injected 5 s after a whole minute
EVENTS = (
    (3_605, {"cmd": "sim.fault", "fault": "motor_stall"}),
    (4_805, {"cmd": "sim.fault", "fault": "clear"}),
    (7_205, {"cmd": "sim.fault", "fault": "occlusion"}),
    (8_405, {"cmd": "sim.fault", "fault": "clear"}),
    (10_805, {"cmd": "sim.fault", "fault": "disconnect"}),
    (12_005, {"cmd": "sim.fault", "fault": "clear"}),
    (14_405, {"cmd": "sim.fault", "fault": "battery_low"}),
    (18_005, {"cmd": "sim.fault", "fault": "battery_eos"}),
    (21_605, {"cmd": "sim.fault", "fault": "clear"}),
    (25_205, {"cmd": "sim.misbehave", "gain": 3}),
)
END_S = 86_400


def trace(repo=None):
    """The trace of the firmware in `repo` (default: this repository). Another tree goes first on
    sys.path, so its firmware is the one imported: call this once per process."""
    if repo is not None and os.path.abspath(repo) != os.path.abspath(repo_path.ROOT):
        for path in (os.path.join(repo, "hal", "cpython"), repo):
            sys.path.insert(0, path)
    from boards.sim.board import Simulation

    sim = Simulation(start_ticks=START_TICKS)
    _ok(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=20))
    sim.mock_pump.fill(20 * 1_000_000_000)
    _ok(sim.request("program", mode="continuous", dose_mcg_day=500))
    sim.mock_pump.record_steps(sim.clock)
    start_ms = sim.clock.elapsed_ms
    start_s = start_ms // 1000
    notices_before = len(sim.notices)
    for at_s, req in EVENTS:
        sim.run_until_s(start_s + at_s)
        args = dict(req)
        _ok(sim.request(args.pop("cmd"), **args))
    sim.run_until_s(start_s + END_S)
    steps_ms = [t - start_ms for t in sim.mock_pump.step_times]
    alarms = []
    for notice in sim.notices[notices_before:]:
        if notice["notice"] in ("alarm_raise", "alarm_clear"):
            t_s = notice["t_s"] - start_s
            after = sum(1 for t in steps_ms if t // 1000 <= t_s)
            alarms.append([notice["notice"], notice["code"], t_s, after])
    return {"steps_ms": steps_ms, "alarms": alarms}


def _ok(reply):
    if not reply or reply.get("ok") is not True:
        raise SystemExit("refused: %r" % (reply,))
    return reply


def main(argv):
    if argv and not os.path.isfile(os.path.join(argv[0], "boards", "sim", "board.py")):
        sys.stderr.write("cpython_wakeup_trace: %s is not a firmware tree (no boards/sim/board.py)\n" % argv[0])
        return 2
    json.dump(trace(os.path.abspath(argv[0]) if argv else None), sys.stdout, separators=(",", ":"))
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
