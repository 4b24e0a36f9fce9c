"""The `log` command: the event log's records with seq >= since, oldest first, at most `limit` (1..64,
32 by default), with the next sequence number and the count of records dropped. Read-only. Loaded on
demand by firmware/protocol.py; `ctl.log` is the EventLog (firmware/eventlog.py), which reads older
records back from flash: a record that cannot be read there is refused with E_STORAGE (nothing
changed), never left out of the reply.
"""

from firmware import units
from firmware.errors import E_STORAGE, CommandError
from firmware.params import only


def log(ctl, req):
    only(req, "since", "limit")
    since = units.whole_int(req, "since", 0, (1 << 30) - 1, required=False, default=0)
    limit = units.whole_int(req, "limit", 1, 64, required=False, default=32)
    elog = ctl.log
    try:
        recs = elog.records(since, limit)
    except OSError as exc:
        raise CommandError(E_STORAGE, "%s (nothing changed; a later 'since' skips it)" % (exc,))
    # one dict per record, the records' list reused for them: the reply's only copy of the records
    for i in range(len(recs)):
        r = recs[i]
        recs[i] = {"seq": r[0], "t_s": r[1], "type": r[2], "data": r[3]}
    return {"events": recs, "next": elog.next_seq, "dropped": elog.dropped}
