"""Days of steady therapy on the simulator, for counting what a wake-up costs (issue 16).

    micropython tools/bench/mpy_days.py DAYS [DOSE_MCG_DAY]

A new simulated pump (40 mL of baclofen at 2000 mcg/mL, the 7-year scenario's pump) runs DAYS
days at DOSE_MCG_DAY (default 400: 4000 steps a day, a step every 21.6 s, housekeeping every 60 s).
`make bench` runs it under callgrind for two values of DAYS: the difference in instructions divided
by the difference in steps is the cost of a step with its wake-up and its share of housekeeping,
exact and repeatable on any machine (tools/bench/cpython_bench.py, table "floor"). Prints one JSON
line: {"days", "steps", "wakeups", "housekeeping"}.
"""

import json
import sys

import repo_path  # (the repository on sys.path; on CPython the `micropython` stand-in too)

from boards.sim.board import Simulation


def main(argv):
    values = repo_path.positive_ints(argv, 1, 2, "micropython tools/bench/mpy_days.py DAYS [DOSE_MCG_DAY]")
    days = values[0]
    dose = values[1] if len(values) > 1 else 400
    sim = Simulation(capacity_nl=40_000_000)
    for cmd, args in (("refill", {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 40}),
                      ("program", {"mode": "continuous", "dose_mcg_day": dose})):
        reply = sim.request(cmd, **args)
        if not reply or reply.get("ok") is not True:
            raise SystemExit("mpy_days: %s refused: %r" % (cmd, reply))
    pump = sim.pump
    pulses, wakeups, house = sim.mock_pump.pulses, pump.wakeups, pump.housekeeping_runs
    sim.run_until_s(days * 86400)
    print(json.dumps({"days": days, "steps": sim.mock_pump.pulses - pulses, "wakeups": pump.wakeups - wakeups,
                      "housekeeping": pump.housekeeping_runs - house}))


main(sys.argv[1:])
