"""Running the real console script (`.venv/bin/pumpctl`, next to the Python that runs the tests), as a
user does, in a clean environment: never the user's own key file, port or development-keys setting."""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# PUMPCTL_UNDER_TEST=/path/to/pumpctl runs these tests against another build of the CLI (e.g. an older one)
PUMPCTL = os.environ.get("PUMPCTL_UNDER_TEST") or str(Path(sys.executable).parent / "pumpctl")


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith("PUMPCTL_")}
    env["PUMPCTL_KEYS"] = "/nonexistent/pumpctl-keys.json"
    env["COLUMNS"] = "200"          # rich tables on one line each
    env.update(extra or {})
    return env


def pumpctl(*args, env=None, timeout=300, stdin=subprocess.DEVNULL, cwd=ROOT):
    return subprocess.run([PUMPCTL] + [str(a) for a in args], capture_output=True, text=True, timeout=timeout,
                          cwd=str(cwd), env=clean_env(env), stdin=stdin)


def one_line_error(proc, code):
    """The command failed with `code`, one line on stderr, no traceback; returns that line."""
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def as_json(proc):
    lines = [ln for ln in proc.stdout.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stdout
    return json.loads(lines[0])


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
