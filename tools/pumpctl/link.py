"""A connection to a pump that speaks the line protocol: the simulator as a child process.

`PumpLink.request(cmd, **args)` sends one request and returns its reply; asynchronous notices that
arrive before the reply are kept in `notices`. A board over USB serial uses the same class with a
serial stream in place of the pipes (protocol issue).
"""

import json
import os
import shutil
import subprocess
import sys

from pumpctl import REPO_ROOT

INTERPRETERS = ("micropython", "cpython")


class LinkError(Exception):
    pass


def micropython_binary():
    here = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(here):
        return here
    found = shutil.which("micropython")
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


class PumpLink:
    def __init__(self, reader, writer, closer=None):
        self._reader = reader
        self._writer = writer
        self._closer = closer
        self._next_id = 1
        self.notices = []

    @classmethod
    def simulator(cls, interp="micropython", **options):
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

        link = cls(proc.stdout, proc.stdin, close)
        link.proc = proc
        return link

    def send_raw(self, data):
        self._writer.write(data)
        self._writer.flush()

    def request(self, cmd, **args):
        req_id = self._next_id
        self._next_id += 1
        req = {"id": req_id, "cmd": cmd}
        req.update(args)
        self.send_raw((json.dumps(req) + "\n").encode())
        while True:
            line = self._reader.readline()
            if not line:
                raise LinkError("the pump closed the link while %r was pending%s" % (cmd, self._stderr_tail()))
            try:
                msg = json.loads(line)
            except ValueError:
                raise LinkError("the pump sent a line that is not JSON: %r" % line[:200])
            if "notice" in msg:
                self.notices.append(msg)
                continue
            if msg.get("id") != req_id:
                raise LinkError("reply for id %r while waiting for %d" % (msg.get("id"), req_id))
            return msg

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
