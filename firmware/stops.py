"""Why delivery is stopped: one bit per reason in Delivery.stop_mask (firmware/delivery.py).

Each bit belongs to one condition and is cleared only when that condition is really gone:
- EMPTY: a refill; STALL and DISCONNECT: a test step every RETRY_S that shows the fault gone;
- OCCLUSION: the idle pressure back below the threshold; EOS: the battery back above EOS + hysteresis;
- GUARD: a new prescription whose 24 h limit the pulse window is below; FAULT: a reboot.
"""

from micropython import const

FAULT = const(1)
EMPTY = const(2)
STALL = const(4)
OCCLUSION = const(8)
DISCONNECT = const(16)
EOS = const(32)
GUARD = const(64)

# faults a reset must not forget (EMPTY and EOS are found again from the reservoir and the battery,
# FAULT is cleared by the reboot itself)
PERSISTENT = const(STALL | OCCLUSION | DISCONNECT | GUARD)

NAMES = ((FAULT, "internal fault"), (EMPTY, "reservoir empty"), (STALL, "motor stall"),
         (OCCLUSION, "occlusion"), (DISCONNECT, "disconnection"), (EOS, "battery EOS"),
         (GUARD, "over-delivery guard"))


def names(mask):
    """The reasons set in `mask`, in a fixed order."""
    return [name for bit, name in NAMES if mask & bit]
