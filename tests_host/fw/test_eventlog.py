"""The event log keeps a small tail in RAM and reads older records back from their flash slots: every
reply stays what a log of `capacity` records held in RAM gave (the reference model below), a record
whose write failed stays in RAM and is counted, and a record that cannot be read is an error, never a
gap."""

from helpers import filled_sim, log_pages, make_sim, ok, refused

from firmware.eventlog import EventLog
from firmware.logstore import LogStore
from hal.mock.storage import MockFlash

CAP = 200
TAIL = 8


class RingModel:
    """What the log answered when it held every record in RAM: the newest `cap` records, the restored
    ones first; `dropped` counts every record no longer in it."""

    def __init__(self, cap, recs=()):
        self.cap = cap
        self.recs = list(recs)
        self.next = recs[-1][0] + 1 if recs else 0

    def add(self, rec):
        self.recs.append(rec)
        if len(self.recs) > self.cap:
            self.recs.pop(0)
        self.next = rec[0] + 1

    def records(self, since, limit):
        return [r for r in self.recs if r[0] >= since][:limit]


def _data(i):
    """Varied payloads, as the firmware logs them: None, flat dicts, nested lists."""
    if i % 3 == 0:
        return None
    if i % 3 == 1:
        return {"code": "LOW_RESERVOIR", "n": i}
    return {"old": {"mode": "flex", "steps": [[0, i], [3600, i + 1]]}, "why": "test %d" % i}


def _kind(i):
    return "refill" if i == 100 else ("alarm_raise", "program", "selftest")[i % 3]


def _log(flash, tail=TAIL):
    log = EventLog(CAP, tail)
    log.store = LogStore(flash, CAP)
    return log


def _reboot(flash, tail=TAIL):
    """A new log restored from flash, as at boot; the count of corrupted slots."""
    log = EventLog(CAP, tail)
    store = LogStore(flash, CAP)
    corrupt = log.restore_from(store)
    log.store = store
    return log, corrupt


def _on_flash(flash):
    """The records the slots hold, oldest first, decoded by hand (record.py layout: 9 bytes of header,
    the JSON payload, 4 of CRC; a torn slot is cut short), and the count of torn slots."""
    import json
    recs = []
    torn = 0
    for name in flash.files:
        if not name.startswith("ev"):
            continue
        data = flash.files[name]
        try:
            seq, t_s, kind, payload = json.loads(data[9:-4])
        except (ValueError, TypeError):
            torn += 1
            continue
        recs.append((seq, t_s, kind, payload))
    recs.sort(key=lambda r: r[0])
    return recs, torn


def _same(log, model):
    assert log.count == len(model.recs), (log.count, len(model.recs))
    assert log.next_seq == model.next
    assert log.dropped == model.next - len(model.recs)
    since = 0
    got = []
    while True:
        page = log.records(since, 64)
        got.extend(page)
        if len(page) < 64:
            break
        since = page[-1][0] + 1
    assert got == model.recs, [r[0] for r in got][:5]
    for since in (0, model.next - 1, model.next - TAIL - 1, model.next - 70):
        assert log.records(since, 17) == model.records(since, 17), since


def test_a_full_log_reads_back_every_record_with_a_tail_in_ram():
    flash = MockFlash()
    log = _log(flash)
    model = RingModel(CAP)
    for i in range(CAP + 60):
        model.add(log.add(1000 + 7 * i, _kind(i), _data(i)))
    assert log.count == CAP and log.dropped == 60 and log.next_seq == CAP + 60
    _same(log, model)
    assert model.recs[0] == (60, 1000 + 7 * 60, "alarm_raise", None)
    assert log.last("refill") == model.recs[100 - 60] and log.last("bolus_start") is None   # read from flash
    # the newest TAIL records come from RAM: with the flash unreadable they are still served ...
    flash.fail_reads = True
    assert log.records(CAP + 60 - TAIL, 64) == model.recs[-TAIL:]
    assert log.last("program") == model.recs[-1]            # seq 259: 259 % 3 == 1
    assert log.last("alarm_raise") == model.recs[-2]
    # ... and one record older is read from its slot: an error, not a gap
    try:
        log.records(CAP + 60 - TAIL - 1, 64)
    except OSError as exc:
        assert "%d" % (CAP + 60 - TAIL - 1) in str(exc), str(exc)
    else:
        raise AssertionError("an unreadable record was left out in silence")


def test_a_reboot_restores_the_full_log_from_flash_both_ways():
    flash = MockFlash()
    log = _log(flash)
    model = RingModel(CAP)
    for i in range(CAP + 35):
        model.add(log.add(10 * i, _kind(i), _data(i)))
    again, corrupt = _reboot(flash)
    assert corrupt == 0
    _same(again, model)
    # restore() of the records load() returns (the same log, built from the whole list)
    other = EventLog(CAP, TAIL)
    store = LogStore(flash, CAP)
    recs, corrupt = store.load()
    other.restore(recs)
    other.store = store
    _same(other, model)
    for i in range(CAP + 35, CAP + 50):                   # and both go on alike
        rec = again.add(10 * i, _kind(i), _data(i))
        assert other.add(10 * i, _kind(i), _data(i)) == rec
        model.add(rec)
    _same(again, model)
    _same(other, model)


def test_a_failed_write_stays_in_ram_counted_until_it_leaves_the_log():
    flash = MockFlash()
    log = _log(flash)
    errors = []
    log.on_store_error = errors.append
    model = RingModel(CAP)
    for i in range(30):
        flash.fail_writes = i in (3, 4, 17)
        model.add(log.add(i, _kind(i), _data(i)))
    flash.fail_writes = False
    assert log.unsaved == 3 and len(errors) == 3
    _same(log, model)
    flash.fail_reads = True                 # records 3, 4 and 17 are served from RAM, not flash
    assert log.records(3, 2) == model.recs[3:5]
    assert log.records(17, 1) == [model.recs[17]]
    flash.fail_reads = False
    for i in range(30, CAP + 10):           # records 3, 4, 17 leave the log in turn, counted as dropped
        model.add(log.add(i, _kind(i), _data(i)))
    _same(log, model)
    assert log.unsaved == 3
    # a reset loses what is not on flash; the log says so: 3 fewer records, 3 more dropped
    flash = MockFlash()
    log2 = _log(flash)
    for i in range(40):
        flash.fail_writes = i in (30, 31, 32)
        log2.add(i, "x", i)
    flash.fail_writes = False
    again, corrupt = _reboot(flash)
    assert corrupt == 0
    assert again.count == 37 and again.dropped == 3 and again.next_seq == 40
    assert [r[0] for r in again.records(0, 64)] == [i for i in range(40) if i not in (30, 31, 32)]


def _lcg(seed):
    state = [seed]

    def draw(n):
        state[0] = (state[0] * 1103515245 + 12345) & 0x7FFFFFFF
        return (state[0] >> 8) % n
    return draw


def test_lost_slots_and_failed_writes_answer_as_the_ram_ring_did():
    """Torn slots at boot, writes that fail, resets: after each step the log equals the reference
    model, whose state after a reset is what the slots hold (decoded here by hand). With slots lost,
    the log spans more sequence numbers than there are slots: a record whose slot takes a newer one
    while it is still in the log moves to RAM first."""
    draw = _lcg(7)
    flash = MockFlash()
    log = _log(flash)
    model = RingModel(CAP)
    t = 0
    for round_ in range(4):
        for _ in range(90 + draw(200)):
            t += 1
            flash.fail_writes = draw(25) == 0
            model.add(log.add(t, _kind(t), _data(t)))
        flash.fail_writes = False
        _same(log, model)
        for _ in range(3 + draw(20)):                    # the power goes; some slots are torn
            name = "ev%03d" % draw(CAP)
            if name in flash.files:
                flash.files[name] = flash.files[name][:draw(20)]
        log, corrupt = _reboot(flash)
        recs, torn = _on_flash(flash)
        model = RingModel(CAP, recs)
        assert corrupt == torn and torn > 0, (round_, corrupt, torn)
        _same(log, model)


def test_an_unreadable_record_that_must_move_to_ram_leaves_the_log_counted():
    flash = MockFlash()
    log = _log(flash)
    for i in range(CAP):
        log.add(i, "x", i)
    flash.files["ev010"] = b"torn"                     # record 10 is lost at the next boot
    log, corrupt = _reboot(flash)
    assert corrupt == 1 and log.count == CAP - 1 and log.dropped == 1
    # the log now spans 201 sequence numbers: record 200 goes to slot 0, whose record 0 is still in
    # the log; it moves to RAM first, so it is read back even with the flash unreadable
    log.add(CAP, "x", CAP)
    assert log.count == CAP and log.dropped == 1
    flash.fail_reads = True
    assert log.records(0, 1) == [(0, 0, "x", 0)]
    flash.fail_reads = False
    # record 1's slot cannot be read when record 201 overwrites it: it leaves the log, counted
    flash.files["ev001"] = b"rot"
    log.add(CAP + 1, "x", CAP + 1)
    assert log.count == CAP - 1 and log.dropped == 3          # + record 0 (the oldest), + record 1 (lost)
    assert log.next_seq == CAP + 2
    assert [r[0] for r in log.records(0, 3)] == [2, 3, 4]


def test_the_log_command_pages_a_full_log_and_is_the_same_after_a_reset():
    sim = make_sim()
    for _ in range(CAP + 40):
        ok(sim.request("selftest"))
    before = log_pages(sim)
    assert [e["seq"] for e in before["events"]] == list(range(before["next"] - CAP, before["next"]))
    assert before["dropped"] == before["next"] - CAP
    assert [e["type"] for e in before["events"][-CAP + 10:]] == ["selftest"] * (CAP - 10)
    sim.power_cycle(0)
    after = log_pages(sim)
    n = after["next"] - before["next"]                   # the reset and boot records
    assert n == 2 and [e["type"] for e in after["events"][-2:]] == ["reset", "boot"]
    assert after["events"][:-2] == before["events"][2:]
    assert after["dropped"] == before["dropped"] + 2


def test_a_flash_that_cannot_be_read_refuses_the_export_and_delivery_goes_on():
    sim = filled_sim(500, 2000, 20)
    for _ in range(20):
        ok(sim.request("selftest"))
    nxt = ok(sim.request("log", limit=1))["next"]
    pulses = sim.mock_pump.pulses
    sim.flash.fail_reads = True
    reply = refused(sim.request("log", since=0, limit=64), "E_STORAGE")
    assert "record 0 " in reply["msg"] and "nothing changed" in reply["msg"]
    recent = ok(sim.request("log", since=nxt - 3, limit=64))["events"]      # the tail is in RAM
    assert [e["seq"] for e in recent] == [nxt - 3, nxt - 2, nxt - 1]
    sim.run_until_s(7200)
    sim.flash.fail_reads = False
    assert sim.mock_pump.pulses > pulses and not sim.pump.safe
    assert [e["seq"] for e in log_pages(sim)["events"]][:nxt] == list(range(nxt))
