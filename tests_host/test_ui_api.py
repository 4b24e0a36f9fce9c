"""pumpctl ui without a browser: the views in people's units, the form checks, the review tokens, and the
aiohttp server's API in front of a real simulator (the firmware on the MicroPython unix port).

Expected values come from the programme, not from the code: a flex day of 400 mcg/day from 00:00 and
900 mcg/day from 08:00 at 2000 mcg/mL moves (8 h * 400 + 16 h * 900) / 24 / 2000 mL = 366.667 uL a day
(7333 whole steps of 50 nL = 366.65 uL), and 2.2 mL fall to the 2 mL low threshold after 200 uL: 66.667 uL
by 08:00, then 133.333 uL at 18.75 uL/h, i.e. at 15:06:40.
"""

import asyncio
import json

import pytest

pytest.importorskip("aiohttp", reason="aiohttp is not installed (requirements.txt; pip install 'pumpctl[ui]')")

from aiohttp.test_utils import TestClient, TestServer  # noqa: E402
from pumpctl import keys as keyfile  # noqa: E402
from pumpctl.cli import main as pumpctl_main  # noqa: E402
from pumpctl.link import PumpLink  # noqa: E402
from pumpctl.ui import commands, view  # noqa: E402
from pumpctl.ui.cli import ListenError, allowed_hosts, parse_listen  # noqa: E402
from pumpctl.ui.commands import BadInput  # noqa: E402
from pumpctl.ui.device import Device  # noqa: E402
from pumpctl.ui.server import Hub, make_app  # noqa: E402

FLEX = {"mode": "flex", "cycle": "day", "steps": [{"start": "00:00", "dose_mcg_day": "400"},
                                                   {"start": "08:00", "dose_mcg_day": 900}]}
REFILL = {"drug": "baclofen", "conc_mcg_ml": "2000", "volume_ml": "2.2"}
DAY_UL = (8 * 400 + 16 * 900) / 24 / 2000 * 1000       # 366.667 uL
STEP_UL = 0.05


# --- views -------------------------------------------------------------------------------------------------

def _status(**kw):
    st = {"t_s": 0, "therapy": {"mode": "stopped"}, "rate_nl_day": 0, "bolus": None, "conc_mcg_ml": 2000,
          "drug": "baclofen", "step_pl": 50000, "reservoir_pl": 0, "capacity_nl": 20_000_000,
          "low_reservoir_nl": 2_000_000, "minimum_nl_day": 48000, "alarms": [], "delivered_pl": 0,
          "delivered_pg": 0, "refill_due_s": None, "battery_mv": 4000, "battery_eri_due_s": None}
    st.update(kw)
    return st


def test_snapshot_in_peoples_units():
    st = _status(t_s=86400 + 9 * 3600, therapy={"mode": "continuous", "dose_ng_day": 500_000}, rate_nl_day=250_000,
                 reservoir_pl=12_345_000_000, delivered_pl=366_650_000, delivered_pg=733_300_000,
                 refill_due_s=86400 * 3, alarms=[{"code": "LOW_RESERVOIR", "tier": "non-critical", "since_s": 54400,
                                                  "silenced": True},
                                                 {"code": "MOTOR_STALL", "tier": "critical", "since_s": 86457,
                                                  "silenced": False}])
    snap = view.snapshot(st)
    assert snap["therapy"]["dose_mcg_day"] == 500
    assert snap["therapy"]["rate_ul_h"] == pytest.approx(250 / 24)          # 250 uL/day
    assert snap["reservoir"] == {"ml": pytest.approx(12.345), "capacity_ml": 20, "low_ml": 2, "low": False}
    assert snap["delivered"] == {"ul": pytest.approx(366.65), "mcg": pytest.approx(733.3)}
    assert snap["refill_due"] == {"t_s": 259200, "date": "2024-01-04 00:00 UTC", "left": "in 1d 15h"}
    assert snap["date"] == "2024-01-02 09:00 UTC"
    # critical first, each with its tier's tone pattern
    assert [a["code"] for a in snap["alarms"]] == ["MOTOR_STALL", "LOW_RESERVOIR"]
    assert "880/660 Hz" in snap["alarms"][0]["tone"] and "every 10 s" in snap["alarms"][0]["tone"]
    assert "3 pulses at 660 Hz" in snap["alarms"][1]["tone"] and snap["alarms"][1]["silenced"]
    assert snap["sim"] is None
    sim = view.snapshot(st, {"moved_pl": 366_600_000, "reservoir_pl": 1_833_400_000, "elapsed_ms": 86_400_000,
                             "pulses": 7333, "stalled": True})
    assert sim["sim"]["diff_ul"] == pytest.approx(0.05)
    assert sim["sim"]["faults"] == ["motor stall"]


def test_profile_flex_wraps_and_marks_now():
    # a week cycle whose first step starts Tuesday 08:00: Monday runs the cycle's last step
    st = _status(t_s=3 * 86400 + 12 * 3600, therapy={"mode": "flex", "cycle": "week", "steps": [
        {"start_s": 86400 + 28800, "dose_ng_day": 600_000}, {"start_s": 4 * 86400, "dose_ng_day": 300_000}]})
    prof = view.profile(st)
    assert prof["cycle_s"] == 7 * 86400
    assert prof["segments"] == [
        {"start_s": 0, "end_s": 115200, "dose_mcg_day": 300},
        {"start_s": 115200, "end_s": 345600, "dose_mcg_day": 600},
        {"start_s": 345600, "end_s": 604800, "dose_mcg_day": 300}]
    assert prof["now_label"] == "Thu 12:00"
    assert view.current_dose_mcg_day(st, prof) == 600
    # the cycle is aligned to the pump's wall clock: a week later it is the same place
    st["t_s"] += 7 * 86400
    assert view.profile(st)["now_s"] == prof["now_s"]


def test_profile_bolus_on_top():
    # a 100 mcg bolus over 2 h at 2000 mcg/mL: 50 uL, 1000 steps of 50 nL, at 600 uL/day (1200 mcg/day)
    st = _status(t_s=10 * 3600, therapy={"mode": "continuous", "dose_ng_day": 500_000},
                 bolus={"kind": "clinician", "steps_total": 1000, "steps_left": 250, "dose_ng": 100_000,
                        "started_s": 9 * 3600, "rate_nl_day": 600_000})
    prof = view.profile(st)
    assert prof["bolus"]["duration_s"] == 7200
    assert prof["bolus"]["dose_mcg_day"] == pytest.approx(1200)
    assert prof["top_mcg_day"] == pytest.approx(1700)
    assert view.snapshot(st)["therapy"]["rate_ul_h"] == pytest.approx(600 / 24)   # basal 0 in this status


def test_event_text():
    assert view.event_text({"type": "alarm_raise", "data": {"code": "OCCLUSION", "tier": "critical",
                                                             "detail": "pressure"}}) == "OCCLUSION (critical): pressure"
    prog = view.event_text({"type": "program", "data": {"old": {"mode": "stopped"},
                                                         "new": {"mode": "continuous", "dose_ng_day": 450_000}}})
    assert prog == "stopped -> continuous 450 mcg/day"
    refill = {"drug": "baclofen", "conc_mcg_ml": 2000, "volume_nl": 2_200_000, "before": {"drug": None}}
    assert view.event_text({"type": "refill", "data": refill}) == "baclofen 2000 mcg/mL, 2.200 mL filled"
    assert view.event_text({"type": "odd", "data": {"a": 1, "b": [2]}}) == "a: 1, b: [2]"
    assert view.event_text({"type": "selftest", "data": None}) == ""


# --- form checks --------------------------------------------------------------------------------------------

def test_parse_forms():
    assert commands.parse("program", FLEX) == {"mode": "flex", "cycle": "day", "steps": [
        {"start_s": 0, "dose_mcg_day": 400}, {"start_s": 28800, "dose_mcg_day": 900}]}
    week = commands.parse("program", {"mode": "flex", "cycle": "week",
                                      "steps": [{"start": "tue 08:30", "dose_mcg_day": 5}]})
    assert week["steps"] == [{"start_s": 86400 + 8 * 3600 + 1800, "dose_mcg_day": 5}]
    assert commands.parse("program", {"mode": "continuous", "dose_mcg_day": "450.5", "confirm_limit": True}) == {
        "mode": "continuous", "dose_mcg_day": 450.5, "confirm": True}
    assert commands.parse("bolus", {"dose_mcg": 50, "duration": "1h30m"}) == {"dose_mcg": 50, "duration_s": 5400}
    assert commands.parse("refill", dict(REFILL, residual_ml="0", bridge=True)) == {
        "drug": "baclofen", "conc_mcg_ml": 2000, "volume_ml": 2.2, "residual_ml": 0, "bridge": True}


@pytest.mark.parametrize("kind, body, words", [
    ("program", {"mode": "continuous", "dose_mcg_day": "nan"}, "daily dose (mcg/day) must be a finite number"),
    ("program", {"mode": "continuous", "dose_mcg_day": True}, "daily dose (mcg/day) must be a number"),
    ("program", {"mode": "continuous"}, "daily dose (mcg/day) is missing"),
    ("program", {"mode": "turbo"}, "mode must be one of"),
    ("program", {"mode": "flex", "steps": []}, "at least one step"),
    ("program", {"mode": "flex", "steps": [{"start": "25:00", "dose_mcg_day": 1}]}, "step 1: bad start '25:00'"),
    ("program", {"mode": "flex", "steps": [{"start": "Tue 08:00", "dose_mcg_day": 1}]}, "outside the day cycle"),
    ("program", {"mode": "flex", "steps": [{"start": "08:00", "dose_mcg_day": 1}] * 2}, "two steps start at 08:00"),
    ("program", {"mode": "flex", "steps": [{"start": i * 60, "dose_mcg_day": 1} for i in range(25)]}, "at most 24"),
    ("bolus", {"dose_mcg": 50, "duration": "soon"}, "bolus duration: bad time 'soon'"),
    ("bolus", {"dose_mcg": -1, "duration": 60}, "bolus dose (mcg) must be between"),
    ("refill", dict(REFILL, conc_mcg_ml="2000.5"), "concentration (mcg/mL) must be a whole number"),
    ("refill", dict(REFILL, volume_ml="inf"), "volume (mL) must be a finite number"),
    ("refill", dict(REFILL, drug=" "), "drug is missing"),
    ("shutdown", {}, "unknown command 'shutdown'"),
])
def test_parse_refuses_with_field_and_unit(kind, body, words):
    with pytest.raises(BadInput) as info:
        commands.parse(kind, body)
    assert words in str(info.value)


def test_review_tokens_single_use_and_expire():
    now = [0.0]
    reviews = commands.Reviews(clock=lambda: now[0])
    token = reviews.issue("program", {"mode": "stopped"})
    assert reviews.take(token) == ("program", {"mode": "stopped"})
    with pytest.raises(BadInput):
        reviews.take(token)                                  # used up
    token = reviews.issue("program", {"mode": "stopped"})
    now[0] += commands.REVIEW_TTL_S + 1
    with pytest.raises(BadInput):
        reviews.take(token)                                  # expired
    with pytest.raises(BadInput):
        reviews.take(None)


def test_listen_addresses():
    assert parse_listen("127.0.0.1:8765") == ("127.0.0.1", 8765, True)
    assert parse_listen("[::1]:0") == ("::1", 0, True)
    assert parse_listen("localhost:9000") == ("localhost", 9000, True)
    assert parse_listen("0.0.0.0:8765") == ("0.0.0.0", 8765, False)
    assert parse_listen("192.168.1.20:80")[2] is False
    for bad in ("8765", "127.0.0.1:http", "127.0.0.1:70000", "pump.local:80"):
        with pytest.raises(ListenError):
            parse_listen(bad)
    assert allowed_hosts("127.0.0.1", 8765) == {"127.0.0.1:8765", "localhost:8765"}


def test_non_loopback_needs_the_flag(capsys):
    # refused before anything starts (no simulator, no socket)
    assert pumpctl_main(["ui", "--sim", "--listen", "0.0.0.0:0"]) == 2
    assert "--allow-remote" in capsys.readouterr().err
    assert pumpctl_main(["ui", "--sim", "--listen", "127.0.0.1:x"]) == 2


# --- the server in front of a simulator -------------------------------------------------------------------------

def serve(test, keys="dev", hosts=None):
    """Run `test(client, hub)` (a coroutine) against the app, a fresh simulator behind it."""
    links = []

    def opener():
        link = PumpLink.simulator(keys=keyfile.dev_keys() if keys == "dev" else keys)
        links.append(link)
        return link

    device = Device(opener, "test simulator", reconnect=False)
    hub = Hub(device, poll_s=0.05)

    async def main():
        client = TestClient(TestServer(make_app(hub, hosts)))
        await client.start_server()
        try:
            await test(client, hub, links)
        finally:
            await client.close()
    asyncio.run(main())


async def _post(client, path, body, status=200):
    res = await client.post(path, json=body)
    data = await res.json()
    assert res.status == status, (path, res.status, data)
    return data


async def _state(client):
    res = await client.get("/api/state")
    assert res.status == 200
    return await res.json()


async def _until(client, check, timeout_s=10.0):
    for _ in range(int(timeout_s / 0.05)):
        state = await _state(client)
        if check(state):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met: %s" % json.dumps(state)[:800])


async def _apply(client, kind, args):
    review = await _post(client, "/api/review", {"kind": kind, "args": args})
    assert review["ok"] and review["token"]
    return review, await _post(client, "/api/apply", {"token": review["token"]})


def test_page_and_state():
    async def test(client, hub, links):
        res = await client.get("/")
        assert res.status == 200 and "Pump bench dashboard" in await res.text()
        res = await client.get("/static/app.js")
        assert res.status == 200
        state = await _until(client, lambda s: s["pump"] is not None)
        assert state["link"]["ok"] and state["link"]["sim"]
        assert state["link"]["roles"] == ["bench", "clinician", "patient"]
        assert state["pump"]["therapy"]["mode"] == "stopped"
        assert [e["type"] for e in state["events"]][:2] == ["reset", "boot"]
        library = await (await client.get("/api/library")).json()
        assert library["baclofen"]["conc"] == [50, 500, 1000, 2000]
    serve(test)


def test_refill_program_day_ack_fault():
    async def test(client, hub, links):
        review, reply = await _apply(client, "refill", REFILL)
        assert ["reservoir", "0.000 mL (estimate)", "2.200 mL"] in review["rows"]
        assert reply["ok"] and reply["reservoir_pl"] == 2_200_000_000
        review, reply = await _apply(client, "program", FLEX)
        assert review["rows"][0] == ["programme", "stopped", "flex (day): 400 from 00:00, 900 from 08:00 mcg/day"]
        assert ["basal rate", "0.000 uL/h (0.0 uL/day)", "8.333 to 18.750 uL/h by step"] in review["rows"]
        assert reply["applied"] and reply["refill_due_s"] == 54400          # 15:06:40
        # the mock's syringe was filled with the refill (the served simulator's true reservoir)
        state = await _until(client, lambda s: s["pump"]["therapy"]["mode"] == "flex")
        assert state["pump"]["sim"]["reservoir_ul"] == pytest.approx(2200)

        run = await _post(client, "/api/sim/run", {"seconds": 86400})
        assert run == {"ok": True, "from_s": 0, "until_s": 86400}
        state = await _state(client)
        pump = state["pump"]
        assert abs(pump["delivered"]["ul"] - DAY_UL) <= STEP_UL
        assert pump["sim"]["moved_ul"] == pytest.approx(pump["delivered"]["ul"])
        assert pump["therapy"]["rate_ul_h"] == pytest.approx(200 / 24)     # 400 mcg/day again at 00:00
        assert [(a["code"], a["tier"], a["since"]) for a in pump["alarms"]] == [
            ("LOW_RESERVOIR", "non-critical", "2024-01-01 15:06 UTC")]
        assert len(state["history"]) >= 48                                 # a chart sample per run chunk
        times = [row[0] for row in state["history"]]
        assert times == sorted(times) and times[-1] == 86400
        assert any(e["type"] == "alarm_raise" and e["text"].startswith("LOW_RESERVOIR") for e in state["events"])

        ack = await _post(client, "/api/ack", {})
        assert ack["acknowledged"] == ["LOW_RESERVOIR"]
        state = await _until(client, lambda s: s["pump"]["alarms"][0]["silenced"])

        await _post(client, "/api/sim/fault", {"fault": "motor_stall"})
        await _post(client, "/api/sim/run", {"seconds": 3600})
        state = await _state(client)
        assert state["pump"]["stopped_by"] == ["motor stall"]
        assert state["pump"]["alarms"][0]["code"] == "MOTOR_STALL" and state["pump"]["alarms"][0]["tier"] == "critical"
        # a command the pump refuses comes back as its error, and changes nothing
        review = await _post(client, "/api/review", {"kind": "bolus", "args": {"dose_mcg": 10, "duration": "10m"}})
        assert ["bolus volume", "-", "5.00 uL of baclofen 2000 mcg/mL"] in review["rows"]
        refused = await _post(client, "/api/apply", {"token": review["token"]}, 422)
        assert refused["error"] == "E_STATE" and "motor stall" in refused["msg"]
        assert (await _state(client))["pump"]["therapy"]["bolus"] is None
    serve(test)


def test_refusals_and_soft_limit():
    async def test(client, hub, links):
        await _apply(client, "refill", REFILL)
        # above the soft limit (1000 mcg/day for baclofen): the dry run is refused until confirmed
        refused = await _post(client, "/api/review", {"kind": "program", "args": {"mode": "continuous",
                                                                                  "dose_mcg_day": 1500}}, 422)
        assert refused["error"] == "E_SOFT_LIMIT_DOSE_DAY"
        review = await _post(client, "/api/review", {"kind": "program", "args": {
            "mode": "continuous", "dose_mcg_day": 1500, "confirm_limit": True}})
        assert review["request"]["confirm"] is True
        # a review changes nothing; only its token applies it, once
        assert (await _state(client))["pump"]["therapy"]["mode"] == "stopped"
        await _post(client, "/api/apply", {"token": review["token"]})
        again = await _post(client, "/api/apply", {"token": review["token"]}, 400)
        assert "review the change again" in again["msg"]
        await _post(client, "/api/apply", {"token": "forged"}, 400)
        # above the hard limit: refused however confirmed
        hard = await _post(client, "/api/review", {"kind": "program", "args": {
            "mode": "continuous", "dose_mcg_day": 2500, "confirm_limit": True}}, 422)
        assert hard["error"] == "E_HARD_LIMIT_DOSE_DAY"
        bad = await _post(client, "/api/review", {"kind": "program", "args": {"mode": "continuous",
                                                                              "dose_mcg_day": "lots"}}, 400)
        assert bad["msg"] == "daily dose (mcg/day) must be a number (got 'lots')"
        await _post(client, "/api/sim/fault", {"fault": "meteor"}, 400)
        await _post(client, "/api/sim/run", {"seconds": 0}, 400)
        state = await _until(client, lambda s: s["pump"]["therapy"]["mode"] == "continuous")
        assert state["pump"]["therapy"]["dose_mcg_day"] == 1500
    serve(test)


def test_without_keys_a_command_is_refused_with_a_hint():
    async def test(client, hub, links):
        refused = await _post(client, "/api/ack", {}, 422)
        assert refused["error"] == "E_AUTH_REQUIRED"
        assert "--keys" in refused["hint"]
    serve(test, keys=None)


def test_only_the_pages_own_requests():
    async def test(client, hub, links):
        host = "127.0.0.1:%d" % client.port
        res = await client.get("/api/state", headers={"Host": "attacker.example:%d" % client.port})
        assert res.status == 403                                           # DNS rebinding
        res = await client.post("/api/ack", json={}, headers={"Origin": "http://attacker.example"})
        assert res.status == 403                                           # another site's page
        res = await client.post("/api/ack", data="{}", headers={"Content-Type": "text/plain"})
        assert res.status == 415                                           # a cross-site form post
        res = await client.get("/api/state", headers={"Origin": "http://" + host})
        assert res.status == 200
        # no ack went through: the pump's log holds no alarm_ack
        state = await _state(client)
        assert not any(e["type"] == "alarm_ack" for e in state["events"])
    hosts = set()

    def wrapped(client, hub, links):
        hosts.update(allowed_hosts("127.0.0.1", client.port))
        return test(client, hub, links)
    serve(wrapped, hosts=hosts)


def test_lost_link_shows_and_commands_fail_cleanly():
    async def test(client, hub, links):
        await _until(client, lambda s: s["pump"] is not None)
        links[0].proc.kill()
        state = await _until(client, lambda s: not s["link"]["ok"])
        assert "lost the link to test simulator" in state["link"]["error"]
        assert state["pump"] is not None                                   # the last values stay shown
        failed = await _post(client, "/api/ack", {}, 503)
        assert failed["error"] == "LINK"
        assert len(links) == 1                                             # a simulator child is not restarted
    serve(test)


def test_sim_controls_need_the_simulator():
    async def test(client, hub, links):
        await _until(client, lambda s: s["pump"] is not None)
        hub.device.is_sim = False                                          # as a board answers sim.state
        refused = await _post(client, "/api/sim/run", {"seconds": 3600}, 409)
        assert refused["error"] == "NOT_SIMULATOR"
        await _post(client, "/api/sim/fault", {"fault": "motor_stall"}, 409)
    serve(test)
