"""The dashboard's web server (aiohttp): the page, a JSON API and a websocket that pushes the pump's state.

One `Hub` per server owns the `Device` (the one link) and a single worker thread: every request to the
pump (the poller's `status`/`sim.state`/`log since`, a button, a review) is a job on that thread, so
they reach the pump one at a time. After each job the worker publishes a frame (a consistent copy of
what the page shows); the event loop only reads frames, never the Device.

The page gets a `state` message after every poll (each `poll_s`), with the events and chart samples it
has not seen yet; while a reply is overdue it gets `beat` messages naming what is pending, so it never
shows a frozen picture as if it were live.

Requests must come from the page itself: the Host header must name this server (a DNS-rebinding page
cannot), an Origin header must match it (another site's page cannot post or open the websocket),
and POST bodies must be application/json (no cross-site form post).
"""

import asyncio
import concurrent.futures
import json
import time
from pathlib import Path

from aiohttp import WSMsgType, web

from pumpctl.link import LinkError
from pumpctl.ui import commands
from pumpctl.ui.commands import BadInput
from pumpctl.ui.device import PumpError

STATIC = Path(__file__).with_name("static")
POLL_S = 1.0
OVERDUE_S = 2.5          # a reply pending longer than this is named on the page
RUN_CHUNKS = 48          # a run-until is split into this many sim.run steps (a chart sample after each)
RUN_CHUNK_MIN_S = 300


def _json(data, status=200):
    return web.json_response(data, status=status, dumps=lambda d: json.dumps(d, allow_nan=False))


class Hub:
    def __init__(self, device, poll_s=POLL_S):
        self.device = device
        self.poll_s = poll_s
        self.reviews = commands.Reviews()
        self.executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="pump-link")
        self.clients = {}            # websocket -> cursor (what it has been sent)
        self.frame = self._publish()
        self.pending = None          # (what, monotonic start) of the job on the worker
        self.running = None          # a run-until in progress: {"until_s", "from_s", "at_s"}
        self.poll_error = None
        self._ticker = None

    # --- jobs on the link's thread -------------------------------------------------------------------
    def _job(self, what, fn, args):
        self.pending = (what, time.monotonic())
        try:
            return fn(*args)
        finally:
            self.frame = self._publish()
            self.pending = None

    async def do(self, what, fn, *args):
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, self._job, what, fn, args)

    def _publish(self):
        d = self.device
        return {"link": d.link_view(), "pump": d.pump_view(), "events": list(d.events), "log_epoch": d.log_epoch,
                "log_dropped": d.log_dropped, "history": list(d.history), "history_epoch": d.history_epoch,
                "notices": list(d.notices)}

    # --- polling and pushing -------------------------------------------------------------------------
    async def refresh(self):
        try:
            await self.do("status", self.device.poll)
            self.poll_error = None
        except LinkError:
            self.poll_error = None       # the link's own error is in the frame
        except PumpError as exc:
            self.poll_error = str(exc)
        await self.push()

    async def tick(self):
        task = None
        while True:
            if task is None or task.done():
                task = asyncio.ensure_future(self.refresh())
            else:
                await self.push(beat=True)
            await asyncio.sleep(self.poll_s)

    def start(self):
        self._ticker = asyncio.ensure_future(self.tick())

    async def stop(self):
        if self._ticker is not None:
            self._ticker.cancel()
        for ws in list(self.clients):
            await ws.close()
        await asyncio.get_running_loop().run_in_executor(self.executor, self.device.close)
        self.executor.shutdown(wait=False)

    def busy(self):
        out = {}
        if self.running:
            r = self.running
            span = max(1, r["until_s"] - r["from_s"])
            out["run"] = {"until_s": r["until_s"], "fraction": (r["at_s"] - r["from_s"]) / span}
        pending = self.pending
        if pending is not None and time.monotonic() - pending[1] > OVERDUE_S:
            out["waiting"] = {"what": pending[0], "s": round(time.monotonic() - pending[1], 1)}
        return out

    def message(self, cursor, beat=False):
        """The next message for one page; `cursor` records what that page already has."""
        f = self.frame
        msg = {"type": "beat" if beat else "state", "busy": self.busy(), "link": f["link"]}
        if beat:
            return msg
        msg.update(pump=f["pump"], poll_error=self.poll_error, log_dropped=f["log_dropped"])
        if cursor.get("log_epoch") != f["log_epoch"] or cursor.get("events", 0) > len(f["events"]):
            cursor.update(log_epoch=f["log_epoch"], events=0)
            msg["events_reset"] = True
        msg["events"] = f["events"][cursor["events"]:]
        cursor["events"] = len(f["events"])
        if cursor.get("history_epoch") != f["history_epoch"] or cursor.get("history", 0) > len(f["history"]):
            cursor.update(history_epoch=f["history_epoch"], history=0)
            msg["history_reset"] = True
        msg["history"] = f["history"][cursor["history"]:]
        cursor["history"] = len(f["history"])
        last = cursor.get("notice", 0)
        msg["notices"] = [n for n in f["notices"] if n["n"] > last]
        if f["notices"]:
            cursor["notice"] = f["notices"][-1]["n"]
        return msg

    async def push(self, beat=False):
        for ws, cursor in list(self.clients.items()):
            try:
                await ws.send_json(self.message(cursor, beat))
            except (ConnectionError, RuntimeError):
                self.clients.pop(ws, None)

    # --- commands --------------------------------------------------------------------------------------
    async def command(self, what, fn, *args):
        """Run a command job; map its outcome to an HTTP reply; push the new state at once."""
        try:
            reply = await self.do(what, fn, *args)
        except BadInput as exc:
            return _json({"ok": False, "error": "BAD_INPUT", "msg": str(exc)}, 400)
        except LinkError as exc:
            await self.push()
            return _json({"ok": False, "error": "LINK", "msg": str(exc)}, 503)
        except PumpError as exc:
            return _json({"ok": False, "error": "REFUSED", "msg": str(exc)}, 422)
        if reply.get("ok") is False:
            reply = {k: v for k, v in reply.items() if k != "id"}
            reply["hint"] = commands.hint(reply)
            asyncio.ensure_future(self.refresh())
            return _json(reply, 422)
        asyncio.ensure_future(self.refresh())
        return _json({k: v for k, v in reply.items() if k != "id"})

    async def run_until(self, seconds):
        """Move the simulator's virtual time forward by `seconds`, in chunks, pushing the state after each."""
        d = self.device
        now_s = await self.do("sim.state", lambda: d.call("sim.state")["elapsed_ms"] // 1000)
        until_s = now_s + seconds
        chunk = max(RUN_CHUNK_MIN_S, seconds // RUN_CHUNKS)
        self.running = {"from_s": now_s, "until_s": until_s, "at_s": now_s}
        try:
            t = now_s
            while t < until_s:
                t = min(until_s, t + chunk)
                await self.do("sim.run", self._run_chunk, t)
                self.running["at_s"] = t
                await self.push()
        finally:
            self.running = None
        return {"ok": True, "from_s": now_s, "until_s": until_s}

    def _run_chunk(self, until_s):
        self.device.call("sim.run", until_s=until_s)
        self.device.poll()


HUB = web.AppKey("hub", Hub)
LIBRARY = web.AppKey("library", dict)


# --- HTTP handlers -----------------------------------------------------------------------------------------

async def _body(request):
    try:
        body = await request.json()
    except ValueError:
        raise BadInput("the request body is not JSON")
    if not isinstance(body, dict):
        raise BadInput("the request body must be a JSON object")
    return body


def _bad(exc):
    return _json({"ok": False, "error": "BAD_INPUT", "msg": str(exc)}, 400)


async def index(request):
    return web.FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-store"})


async def api_state(request):
    hub = request.app[HUB]
    cursor = {}
    msg = hub.message(cursor)
    return _json(msg)


def drug_library():
    """The firmware's drug library (firmware/druglib.py, pure data): drug -> allowed concentrations, for
    the refill form. The pump checks every refill against its own copy."""
    import runpy

    from pumpctl import REPO_ROOT
    try:
        drugs = runpy.run_path(str(REPO_ROOT / "firmware" / "druglib.py"))["DRUGS"]
    except (OSError, KeyError, SyntaxError):
        return {}
    return {name: {"conc": list(entry["conc"])} for name, entry in drugs.items()}


async def api_library(request):
    return _json(request.app[LIBRARY])


async def api_review(request):
    hub = request.app[HUB]
    try:
        body = await _body(request)
        kind = body.get("kind")
        req = commands.parse(kind, body.get("args"))
    except BadInput as exc:
        return _bad(exc)

    def job():
        out = commands.review(hub.device, kind, req)
        if out.get("ok"):
            out["token"] = hub.reviews.issue(kind, req)
            out["kind"] = kind
            out["request"] = req
        return out
    return await hub.command("review " + kind, job)


async def api_apply(request):
    hub = request.app[HUB]
    try:
        kind, req = hub.reviews.take((await _body(request)).get("token"))
    except BadInput as exc:
        return _bad(exc)
    return await hub.command(kind, commands.apply, hub.device, kind, req)


async def api_ack(request):
    hub = request.app[HUB]
    return await hub.command("ack", hub.device.request, "ack")


def _need_sim(hub):
    if not hub.device.is_sim:
        return _json({"ok": False, "error": "NOT_SIMULATOR", "msg": "only the simulator has virtual time and "
                      "fault injection"}, 409)
    return None


async def _sim_body(request):
    """(hub, request body) of a simulator-only call, or (None, the response that refuses it)."""
    hub = request.app[HUB]
    refusal = _need_sim(hub)
    if refusal:
        return None, refusal
    try:
        return hub, await _body(request)
    except BadInput as exc:
        return None, _bad(exc)


async def api_sim_run(request):
    hub, body = await _sim_body(request)
    if hub is None:
        return body
    try:
        seconds = commands.number(body, "seconds", "run-until span (s)", 1, commands.MAX_RUN_S)
    except BadInput as exc:
        return _bad(exc)
    if hub.running:
        return _json({"ok": False, "error": "BUSY", "msg": "the simulator is already running"}, 409)
    try:
        result = await hub.run_until(int(seconds))
    except LinkError as exc:
        await hub.push()
        return _json({"ok": False, "error": "LINK", "msg": str(exc)}, 503)
    except PumpError as exc:
        return _json({"ok": False, "error": "REFUSED", "msg": str(exc)}, 422)
    return _json(result)


async def api_sim_fault(request):
    hub, body = await _sim_body(request)
    if hub is None:
        return body
    fault = body.get("fault")
    if fault not in commands.FAULTS:
        return _bad("unknown fault %r (use %s)" % (fault, ", ".join(commands.FAULTS)))
    return await hub.command("sim.fault", lambda: hub.device.request("sim.fault", fault=fault))


async def websocket(request):
    hub = request.app[HUB]
    ws = web.WebSocketResponse(heartbeat=20)
    await ws.prepare(request)
    cursor = {}
    hub.clients[ws] = cursor
    try:
        await ws.send_json(hub.message(cursor))
        async for msg in ws:
            if msg.type == WSMsgType.ERROR:
                break
    finally:
        hub.clients.pop(ws, None)
    return ws


def guard(allowed_hosts):
    """Middleware: the page's own requests only (see the module's docstring)."""
    @web.middleware
    async def middleware(request, handler):
        if allowed_hosts is not None and request.host not in allowed_hosts:
            return web.Response(status=403, text="unexpected Host header %r\n" % request.host)
        origin = request.headers.get("Origin")
        if origin is not None and origin != "%s://%s" % (request.scheme, request.host):
            return web.Response(status=403, text="requests from another origin (%s) are refused\n" % origin)
        if request.method == "POST" and request.content_type != "application/json":
            return web.Response(status=415, text="POST bodies must be application/json\n")
        response = await handler(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response
    return middleware


def make_app(hub, allowed_hosts=None):
    """The aiohttp application; allowed_hosts: Host header values accepted (None: any)."""
    app = web.Application(middlewares=[guard(allowed_hosts)], client_max_size=64 * 1024)
    app[HUB] = hub
    app[LIBRARY] = drug_library()
    app.router.add_get("/", index)
    app.router.add_static("/static/", STATIC)
    app.router.add_get("/api/state", api_state)
    app.router.add_get("/api/library", api_library)
    app.router.add_get("/ws", websocket)
    app.router.add_post("/api/review", api_review)
    app.router.add_post("/api/apply", api_apply)
    app.router.add_post("/api/ack", api_ack)
    app.router.add_post("/api/sim/run", api_sim_run)
    app.router.add_post("/api/sim/fault", api_sim_fault)

    async def on_startup(app):
        hub.start()

    async def on_shutdown(app):
        await hub.stop()
    app.on_startup.append(on_startup)
    app.on_shutdown.append(on_shutdown)
    return app
