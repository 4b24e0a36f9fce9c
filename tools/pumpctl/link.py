"""A connection to a pump that speaks the line protocol (docs/protocol.md): the simulator as a child
process, or a board (or a served simulator) through pyserial: a serial port, a pseudo-terminal, or a
`socket://127.0.0.1:PORT` URL.

`PumpLink.request(cmd, **args)` sends one request and returns its reply; asynchronous notices that
arrive before the reply are kept in `notices`. An error reply without an id (the pump could not read
the request: E_JSON, E_FRAME_TOO_LONG) answers the pending request. Every wait is bounded: a pump
that says nothing for `timeout_s` (a board, a served simulator, or the simulator child process on its
pipe) ends the request with LinkError naming the command and the time waited. With keys, a command
that needs authentication is
signed transparently: as the narrowest role the keys allow (pumpctl.sign.role_preference) or the
role forced with `role=`, with the next counter of that role. The counters come from the pump
(`keys.state`, public) when a role is first used, so a host keeps no counter state of its own.
"""

import json
import os
import select
import shutil
import subprocess
import sys
import time

from pumpctl import REPO_ROOT, sign
from pumpctl import keys as keyfile

INTERPRETERS = ("micropython", "cpython")
DEFAULT = object()          # keys: the default key file, if there is one
_MAX_SKIPPED = 64           # stale or foreign lines skipped while waiting for a reply
SIM_TIMEOUT_S = 120.0       # the simulator child: one request, a day of virtual time included
# the pump's answers to a line it could not read (no id): what a partial line ended at opening gets
_UNREAD_LINE = ("E_JSON", "E_ENCODING", "E_FRAME_TOO_LONG")
DRAIN_S = 0.1               # after opening a port: lines the pump still sends from before are dropped


class LinkError(Exception):
    pass


class _Timeout(Exception):
    pass


class PipeReader:
    """readline() on a child's stdout pipe with a timeout (select + os.read): returns one line with
    its newline, b"" when the child closed the pipe, or raises _Timeout after `timeout_s` of silence."""

    def __init__(self, pipe, timeout_s):
        self._fd = pipe.fileno()
        self.timeout_s = timeout_s
        self._buf = b""

    def readline(self):
        deadline = time.monotonic() + self.timeout_s
        while True:
            cut = self._buf.find(b"\n")
            if cut >= 0:
                line, self._buf = self._buf[:cut + 1], self._buf[cut + 1:]
                return line
            left = deadline - time.monotonic()
            if left <= 0:
                raise _Timeout()
            ready, _, _ = select.select([self._fd], [], [], left)
            if not ready:
                raise _Timeout()
            chunk = os.read(self._fd, 65536)
            if not chunk:
                line, self._buf = self._buf, b""
                return line
            self._buf += chunk


def venv_tool(name):
    """Path of the executable `name` installed next to this Python (.venv/bin), else on PATH, else None."""
    here = os.path.join(os.path.dirname(sys.executable), name)
    if os.path.exists(here):
        return here
    return shutil.which(name)


def micropython_binary():
    """The MicroPython the simulator runs on: $PUMP_MICROPYTHON if set (e.g. the 32-bit board-like build,
    ../shared/emu/micropython-1.28.0-unix-i386), else .venv's unix port."""
    if os.environ.get("PUMP_MICROPYTHON"):
        return os.environ["PUMP_MICROPYTHON"]
    found = venv_tool("micropython")
    if not found:
        raise LinkError("the MicroPython unix port ('micropython') is not installed: run 'make test' or "
                        "'make sim' once to create .venv")
    return found


def sim_command(interp="micropython", **options):
    if interp not in INTERPRETERS:
        raise LinkError("unknown interpreter %r (use %s)" % (interp, " or ".join(INTERPRETERS)))
    exe = micropython_binary() if interp == "micropython" else sys.executable
    args = [exe, str(REPO_ROOT / "boards" / "sim" / "main.py")]
    args += ["%s=%d" % (k, v) for k, v in sorted(options.items())]
    return args


def default_keys():
    """The default key file's keys, or None if there is none (then requests go out unsigned)."""
    path = keyfile.default_path()
    if not path.exists():
        return None
    try:
        keys, _, warnings = keyfile.load(path)
    except keyfile.KeyFileError as exc:
        raise LinkError(str(exc))
    for warning in warnings:
        sys.stderr.write("pumpctl: warning: %s\n" % warning)
    return keys


def open_error(port, exc):
    """A short message for a port that cannot be opened: missing, busy, not allowed, or no simulator."""
    text = str(exc)
    if port.startswith("socket://"):
        if "refused" in text.lower() or "111" in text:
            return "nothing listens on %s: start one with `pumpctl sim serve` (or check the port number)" % port
        return "cannot connect to %s: %s" % (port, text)
    if "No such file" in text or "could not open port" in text and "[Errno 2]" in text:
        return "no serial port %s: is the board plugged in? `pumpctl ports` lists the ports" % port
    if "Permission denied" in text or "[Errno 13]" in text:
        return ("%s: permission denied (Linux: add yourself to the dialout group, then log in again)" % port)
    if "busy" in text.lower() or "[Errno 16]" in text:
        return "%s is busy: another program (a serial monitor, mpremote) has it open" % port
    return "cannot open %s: %s" % (port, text)


class PumpLink:
    def __init__(self, reader, writer, closer=None, keys=None, role=None):
        self._reader = reader
        self._writer = writer
        self._closer = closer
        self._next_id = 1
        self.keys = dict(keys or {})
        self.role = role            # force this role (None: the narrowest the keys allow)
        self._ctr = {}
        self.notices = []
        self.skipped = []           # lines that were neither a notice nor the awaited reply
        self._partial_answer = False  # the pump may still owe the answer to a line ended at opening

    @classmethod
    def simulator(cls, interp="micropython", keys=DEFAULT, role=None, timeout_s=SIM_TIMEOUT_S, **options):
        """Start the simulator; with keys=DEFAULT it signs with the simulator's development keys
        (which the simulator provisions at start unless provision=0). A request it does not answer
        within timeout_s fails (the simulator hangs or loops: its stderr is in the message)."""
        proc = subprocess.Popen(sim_command(interp, **options), stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=str(REPO_ROOT))

        def close():
            try:
                proc.stdin.close()
            except OSError:
                pass
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            err = proc.stderr.read().decode(errors="replace")
            proc.stderr.close()
            proc.stdout.close()
            return proc.returncode, err

        link = cls(PipeReader(proc.stdout, timeout_s), proc.stdin, close,
                   keyfile.dev_keys() if keys is DEFAULT else keys, role)
        link.proc = proc
        link.pipe_timeout_s = timeout_s
        return link

    @classmethod
    def serial(cls, port, keys=DEFAULT, role=None, timeout_s=30.0, baud=115200):
        """Open a board's serial port, a pty, or a pyserial URL (socket://127.0.0.1:PORT)."""
        try:
            import serial
        except ImportError:
            raise LinkError("pyserial is not installed (make venv installs it)")
        if keys is DEFAULT:
            keys = default_keys()
        try:
            ser = serial.serial_for_url(port, baudrate=baud, timeout=timeout_s, write_timeout=timeout_s)
        except (serial.SerialException, ValueError, OSError) as exc:
            raise LinkError(open_error(port, exc))
        if hasattr(ser, "reset_input_buffer"):
            ser.reset_input_buffer()
        link = cls(ser, ser, lambda: (ser.close(), (0, ""))[1], keys, role)
        link.port = port
        link.timeout_s = timeout_s
        link.send_raw(b"\n")   # ends any partial line the pump may hold from before
        link.drain(DRAIN_S)    # and its answer to that line (an E_JSON without an id) is not ours
        link._partial_answer = True   # ... nor is it if it comes later (a slow pump: _await)
        return link

    def drain(self, quiet_s):
        """Drop what the pump sends until it has been quiet for quiet_s (serial links only)."""
        ser = self._reader
        if not hasattr(ser, "timeout"):
            return
        saved = ser.timeout
        ser.timeout = quiet_s
        try:
            while ser.readline():
                pass
        except OSError:
            pass
        finally:
            ser.timeout = saved

    # --- sending -----------------------------------------------------------------------------------
    def send_raw(self, data):
        try:
            self._writer.write(data)
            self._writer.flush()
        except OSError as exc:
            raise LinkError("the link failed while sending: %s" % exc)

    def role_for(self, cmd, args):
        """The role this command goes out as, or None (public, or no usable key)."""
        if sign.is_public(cmd) or not self.keys:
            return None
        if self.role is not None:
            return self.role if self.role in self.keys else None
        for role in sign.role_preference(cmd, args):
            if role in self.keys:
                return role
        return None

    def request(self, cmd, **args):
        """Send one request (signed if it needs it and the keys allow) and return its reply."""
        role = self.role_for(cmd, args)
        reply = self.request_as(role, cmd, **args)
        if role is not None and reply.get("error") == "E_AUTH_REPLAY":
            # another host used the role meanwhile: take the pump's counter and try once more
            self._ctr.pop(role, None)
            reply = self.request_as(role, cmd, **args)
        return reply

    def request_as(self, role, cmd, **args):
        """Send one request as `role` (None: unsigned) and return its reply."""
        req_id = self._next_id
        self._next_id += 1
        req = {"id": req_id, "cmd": cmd}
        req.update(args)
        try:
            if role is None:
                line = sign.encode(req)
            else:
                if role not in self.keys:
                    raise LinkError("no %s key: give a key file with --keys" % role)
                line = sign.encode(req, role, self._next_ctr(role), self.keys[role])
        except sign.FrameError as exc:
            raise LinkError(str(exc))
        self.send_raw(line)
        return self._await(cmd, req_id)

    def _next_ctr(self, role):
        if role not in self._ctr:
            state = self.request_as(None, "keys.state")
            if not state.get("ok"):
                raise LinkError("the pump did not report its counters: %s %s" % (state.get("error"), state.get("msg")))
            for name, entry in state["roles"].items():
                self._ctr[name] = entry["ctr"]
        self._ctr[role] = self._ctr.get(role, 0) + 1
        return self._ctr[role]

    def _readline(self, cmd):
        try:
            line = self._reader.readline()
        except _Timeout:
            proc = getattr(self, "proc", None)
            if proc is not None:
                proc.kill()          # hung or looping: its stderr (below) says where
            raise LinkError("no reply to %r within %g s: the simulator is silent (hung or busy)%s"
                            % (cmd, self.pipe_timeout_s, self._stderr_tail()))
        except OSError as exc:
            raise LinkError("the link failed while %r was pending: %s" % (cmd, exc))
        timeout_s = getattr(self, "timeout_s", None)     # a serial link: an empty read is a timeout
        if not line and timeout_s is None:
            raise LinkError("the pump closed the link while %r was pending%s" % (cmd, self._stderr_tail()))
        if not line.endswith(b"\n"):
            raise LinkError("no reply to %r within %g s from %s: is the pump connected and running? "
                            "(--timeout waits longer)" % (cmd, timeout_s, getattr(self, "port", "the pump")))
        return line

    def _await(self, cmd, req_id):
        skipped = 0
        while True:
            line = self._readline(cmd)
            try:
                msg = json.loads(line)
            except ValueError:
                msg = None
            if isinstance(msg, dict) and "notice" in msg:
                self.notices.append(msg)
                continue
            if isinstance(msg, dict) and msg.get("id") == req_id:
                self._partial_answer = False
                return msg
            if isinstance(msg, dict) and msg.get("id") is None and msg.get("ok") is False:
                if self._partial_answer and msg.get("error") in _UNREAD_LINE:
                    # the answer to the partial line the "\n" sent at opening ended, later than the
                    # drain (a pump that loads the code serving a line takes longer): the pump answers
                    # lines in order, so it comes before any answer to ours, and it comes once
                    self._partial_answer = False
                    self.skipped.append(line[:200])
                    continue
                # the pump could not read the request (not JSON, too long, no id): that is our request's answer
                self._partial_answer = False
                return dict(msg, id=req_id, unread=True)
            # a stale reply (an earlier request, a line sent before we connected) or a stray line
            skipped += 1
            self.skipped.append(line[:200])
            stale = isinstance(msg, dict) and (msg.get("id") is None or (
                isinstance(msg.get("id"), int) and msg["id"] < req_id))
            if not stale and msg is not None:
                raise LinkError("reply for id %r while waiting for %d" % (msg.get("id"), req_id))
            if skipped > _MAX_SKIPPED:
                raise LinkError("no reply to %r: only lines that are not replies (%r)" % (cmd, line[:100]))

    def call(self, cmd, **args):
        """request() that raises on a refusal."""
        reply = self.request(cmd, **args)
        if not reply.get("ok"):
            raise LinkError("%s refused: %s %s" % (cmd, reply.get("error"), reply.get("msg")))
        return reply

    def _stderr_tail(self):
        if self._closer is None:
            return ""
        code, err = self._closer()
        self._closer = None
        return " (exit %s)\n%s" % (code, err[-2000:]) if err else " (exit %s)" % code

    def close(self):
        if self._closer is not None:
            code, err = self._closer()
            self._closer = None
            return code, err
        return 0, ""
