"""Command round-trip time on the simulator (for `make bench`): host writes a request line, the
simulator (a child process on stdin/stdout) parses, authenticates, runs it and answers.

measure_rtt(n=200, interp="micropython") -> {"n", "interp", "status_median_ms", "status_p99_ms",
"signed_median_ms", "signed_p99_ms"}: `status` is public (no MAC); the signed command is `sim.pump`
without arguments (it changes nothing) as the bench role: HMAC-SHA256 check plus the write-ahead
counter record on the mock flash.
"""

import time

from pumpctl.link import PumpLink


def _percentile(sorted_ms, pct):
    """Nearest-rank percentile of a sorted list."""
    rank = max(1, -(-pct * len(sorted_ms) // 100))
    return sorted_ms[int(rank) - 1]


def _times(link, cmd, n):
    out = []
    for _ in range(n):
        started = time.perf_counter()
        link.call(cmd)
        out.append((time.perf_counter() - started) * 1000.0)
    out.sort()
    return out


def measure_rtt(n=200, interp="micropython"):
    link = PumpLink.simulator(interp)
    try:
        link.call("keys.state")            # start-up and first-use costs out of the samples
        link.call("sim.pump")
        public = _times(link, "status", n)
        signed = _times(link, "sim.pump", n)
    finally:
        link.close()
    return {
        "n": n,
        "interp": interp,
        "status_median_ms": round(_percentile(public, 50), 3),
        "status_p99_ms": round(_percentile(public, 99), 3),
        "signed_median_ms": round(_percentile(signed, 50), 3),
        "signed_p99_ms": round(_percentile(signed, 99), 3),
    }


if __name__ == "__main__":
    import json
    import sys
    print(json.dumps(measure_rtt(int(sys.argv[1]) if len(sys.argv) > 1 else 200,
                                 sys.argv[2] if len(sys.argv) > 2 else "micropython")))
