"""Bad input gets a clear error code and changes nothing."""

from helpers import filled_sim, ok, refused


def _state(sim):
    st = ok(sim.request("status"))
    return (st["therapy"], st["rate_nl_day"], st["reservoir_pl"], st["drug"], st["conc_mcg_ml"])


def _raw(sim, data):
    return sim.request_raw(data)


def test_garbage_is_answered_and_changes_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    cases = (
        (b"not json\n", "E_JSON"),
        (b"[1,2]\n", "E_JSON"),
        (b"\xff\xfe\x00\n", "E_ENCODING"),
        (b'{"id": 3}\n', "E_UNKNOWN_CMD"),
        (b'{"id": 3, "cmd": "fly"}\n', "E_UNKNOWN_CMD"),
        (b'{"id": [1], "cmd": "status"}\n', "E_ARG_TYPE"),
        (b"x" * 5000 + b"\n", "E_FRAME_TOO_LONG"),
    )
    for data, code in cases:
        reply = _raw(sim, data)
        refused(reply, code)
    assert _state(sim) == before


def test_program_refusals_change_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("program", mode="continuous"), "E_ARG_MISSING")
    refused(sim.request("program", mode="continuous", dose_mcg_day="500"), "E_ARG_TYPE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=-5), "E_ARG_RANGE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=500, speed=3), "E_ARG_UNKNOWN")
    refused(sim.request("program", mode="turbo", dose_mcg_day=500), "E_MODE")
    refused(sim.request("program", mode="continuous", dose_mcg_day=0.0001), "E_ARG_RANGE")
    assert _state(sim) == before


def test_rate_the_planner_cannot_run_is_refused():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("program", mode="continuous", dose_mcg_day=0.01), "E_RATE")  # 5 nL/day
    assert _state(sim) == before


def test_refill_refusals_change_nothing():
    sim = filled_sim(500, 2000, 20)
    before = _state(sim)
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=2000, volume_ml=25), "E_CAPACITY")
    refused(sim.request("refill", drug="baclofen", conc_mcg_ml=20.5, volume_ml=10), "E_ARG_TYPE")
    refused(sim.request("refill", drug="", conc_mcg_ml=2000, volume_ml=10), "E_ARG_TYPE")
    refused(sim.request("refill", conc_mcg_ml=2000, volume_ml=10), "E_ARG_MISSING")
    assert _state(sim) == before


def test_bench_commands_need_the_simulator_bench():
    sim = filled_sim(500, 2000, 20)
    sim.hw.bench = None
    refused(sim.request("sim.run", until_s=10), "E_BENCH_DISABLED")


def test_program_change_logs_old_and_new():
    sim = filled_sim(500, 2000, 20)
    ok(sim.request("program", mode="continuous", dose_mcg_day=450))
    events = ok(sim.request("log"))["events"]
    last = [e for e in events if e["type"] == "program"][-1]
    assert last["data"]["old"] == {"mode": "continuous", "dose_ng_day": 500_000}
    assert last["data"]["new"] == {"mode": "continuous", "dose_ng_day": 450_000}


def test_info():
    sim = filled_sim(500, 2000, 20)
    info = ok(sim.request("info"))
    assert info["board"] == "sim" and info["serial"] == "SIM-0001" and info["firmware"]
