"""The dashboard's side of the link: one PumpLink (tools/pumpctl/link.py) owned by the server.

`Device` is not thread-safe on purpose: the server runs every call through a single worker thread, so
requests reach the pump one at a time, in order, whoever asked (the poller, a button, a review).

It keeps what the page needs between polls: the last `status` (and `sim.state` on the simulator),
every event-log record fetched so far (`log since`, growing), a bounded history of samples for the
delivery chart, and the notices the pump sent. A failed link is closed and reported (`error`); a
board or served simulator is opened again on a later poll, a simulator child process is not (its
state died with it).
"""

import time

from pumpctl.link import LinkError
from pumpctl.ui import view

MAX_EVENTS = 5000        # event-log records kept for the page (the pump's own ring holds 200)
MAX_SAMPLES = 1500       # chart samples; beyond, every other older sample is dropped
MAX_NOTICES = 50
RETRY_S = 3.0            # wait between attempts to open a lost link again
LOG_PAGE = 64            # records per `log` request (the protocol's maximum)


class PumpError(Exception):
    """The pump refused a command the dashboard needs to show it (e.g. `status`)."""


class Device:
    def __init__(self, open_link, where, reconnect=True, clock=time.monotonic):
        """open_link() -> PumpLink; where: what to call the pump in messages; reconnect: open a lost
        link again (a port or socket) or not (a simulator child process)."""
        self._open = open_link
        self._clock = clock
        self.where = where
        self.reconnect = reconnect
        self.link = None
        self.error = None            # why the link is down, None while it works
        self._retry_at = 0.0
        self._opened = False
        self.info = None
        self.roles = []              # roles the loaded keys hold
        self.is_sim = False
        self.status = None
        self.sim_state = None
        self.events = []
        self.log_epoch = 0           # bumped when the list of events starts over (another pump, a wipe)
        self.log_next = 0
        self.log_dropped = 0
        self.history = []            # [t_s, delivered_ul, rate_ul_h, mock moved_ul or None]
        self.history_epoch = 0       # bumped when the history is thinned or starts over
        self.notices = []
        self.notice_count = 0

    # --- the link ----------------------------------------------------------------------------------
    def _connect(self):
        if self.link is not None:
            return self.link
        if self._opened and not self.reconnect:
            raise LinkError(self.error or "the link is closed")
        if self._clock() < self._retry_at:
            raise LinkError(self.error)
        try:
            link = self._open()
        except LinkError as exc:
            self._retry_at = self._clock() + RETRY_S
            self.error = str(exc) if self.where in str(exc) else "cannot open %s: %s" % (self.where, exc)
            raise LinkError(self.error)
        self.link = link
        self._opened = True
        self.roles = sorted(link.keys)
        try:
            info = link.request("info")
            sim = link.request("sim.state")
        except LinkError as exc:
            self._lost(exc)
            raise LinkError(self.error)
        if self.info is not None and info.get("serial") != self.info.get("serial"):
            self._forget_pump()
        self.info = info
        self.is_sim = bool(sim.get("ok")) and "elapsed_ms" in sim
        self.error = None
        return link

    def _lost(self, exc):
        link, self.link = self.link, None
        self.error = "lost the link to %s: %s" % (self.where, str(exc).strip())
        self._retry_at = self._clock() + RETRY_S
        if link is not None:
            try:
                link.close()
            except (OSError, LinkError):
                pass

    def _forget_pump(self):
        self.events = []
        self.log_next = 0
        self.log_epoch += 1
        self.history = []
        self.history_epoch += 1

    def request(self, cmd, **args):
        """One request through the link (signed as the keys allow); the pump's reply, refusals included.
        Raises LinkError when the link is down or fails (then it is closed and reported)."""
        link = self._connect()
        try:
            reply = link.request(cmd, **args)
        except LinkError as exc:
            self._lost(exc)
            raise LinkError(self.error)
        if link.notices:
            for notice in link.notices:
                self.notice_count += 1
                self.notices.append(dict(notice, n=self.notice_count))
            del link.notices[:]
            del self.notices[:-MAX_NOTICES]
        return reply

    def call(self, cmd, **args):
        reply = self.request(cmd, **args)
        if not reply.get("ok"):
            raise PumpError("%s refused: %s %s" % (cmd, reply.get("error"), reply.get("msg")))
        return reply

    def close(self):
        if self.link is not None:
            link, self.link = self.link, None
            try:
                link.close()
            except (OSError, LinkError):
                pass

    # --- polling -----------------------------------------------------------------------------------
    def poll(self):
        """status, sim.state on the simulator, and the new event-log records."""
        status = self.call("status")
        sim = self.call("sim.state") if self.is_sim else None
        self._fetch_log()
        if self.status is not None and status.get("t_s", 0) < self.status.get("t_s", 0):
            self.history = []                    # the pump's clock went back (set_time, lost RTC)
            self.history_epoch += 1
        self.status, self.sim_state = status, sim
        self._sample(status, sim)

    def _fetch_log(self):
        for _ in range(64):                      # at most 64 pages per poll; the rest next time
            reply = self.call("log", since=self.log_next, limit=LOG_PAGE)
            if reply.get("next", 0) < self.log_next:          # the pump's log started over
                self._forget_pump()
                continue
            self.log_dropped = reply.get("dropped", 0)
            records = reply.get("events") or []
            fresh = [dict(e, text=view.event_text(e)) for e in records if e["seq"] >= self.log_next]
            self.events.extend(fresh)
            if records:
                self.log_next = records[-1]["seq"] + 1
            if len(self.events) > MAX_EVENTS:
                del self.events[:len(self.events) - MAX_EVENTS]
                self.log_epoch += 1
            if len(records) < LOG_PAGE:
                return

    def _sample(self, status, sim):
        bolus = status.get("bolus") or {}
        rate_ul_h = (status.get("rate_nl_day", 0) + (bolus.get("rate_nl_day") or 0)) / 24000
        row = [status.get("t_s", 0), status.get("delivered_pl", 0) / 1e6, rate_ul_h,
               sim.get("moved_pl", 0) / 1e6 if sim else None]
        if self.history and self.history[-1][0] == row[0]:
            self.history[-1] = row
            return
        self.history.append(row)
        if len(self.history) > MAX_SAMPLES:
            half = len(self.history) // 2
            self.history = self.history[:half:2] + self.history[half:]
            self.history_epoch += 1

    # --- what the page shows -------------------------------------------------------------------------
    def link_view(self):
        return {"ok": self.link is not None and self.error is None, "error": self.error, "where": self.where,
                "sim": self.is_sim, "roles": self.roles, "info": self.info,
                "reconnect": self.reconnect}

    def pump_view(self):
        if self.status is None:
            return None
        return view.snapshot(self.status, self.sim_state)
