"""Fake `machine` for the MicroPython unix port: just enough of Pin, PWM, ADC, WDT, RTC and
unique_id for the board files and hal/mcu drivers to import, start and be driven by tests.

Put this directory first on MICROPYPATH: `machine` is an extensible built-in, so a file of that name
on the path wins over the unix port's own (which has no Pin/PWM/ADC/WDT/RTC).
Every object registers itself in a module-level table so a test can inspect and drive the hardware:
`pins[id]`, `pwms[id]`, `adcs[id]`, `wdts`, `rtc_state`, `reset_cause_state`, `resets`.
"""

pins = {}
pwms = {}
adcs = {}
wdts = []
rtc_state = [(2021, 1, 1, 4, 0, 0, 0, 0)]   # RP2040 boots at 2021-01-01: "never set"
UNIQUE_ID = b"\xe6\x60\x38\xb7\x13\x2e\x2a\x2c"
irq_disabled = [0]
PWRON_RESET = 1              # machine.reset_cause() values of the rp2 port
HARD_RESET = 2
WDT_RESET = 3
reset_cause_state = [PWRON_RESET]
resets = []                  # machine.reset() calls (each also raises SystemExit)


class Pin:
    IN = 0
    OUT = 1
    OPEN_DRAIN = 2
    PULL_UP = 1
    PULL_DOWN = 2
    IRQ_FALLING = 4
    IRQ_RISING = 8

    def __init__(self, id, mode=-1, pull=-1, value=None):
        self.id = id
        self.mode = mode
        self.pull = pull
        if id in pins:
            old = pins[id]
            self.level = old.level
            self.rises = old.rises
        else:
            self.level = 1 if pull == Pin.PULL_UP else 0
            self.rises = 0              # 0 -> 1 transitions written by the firmware (outputs)
        if value is not None:
            self.level = 1 if value else 0
        self.handler = None
        self.trigger = 0
        self.hard = None
        pins[id] = self

    def value(self, v=None):
        if v is None:
            return self.level
        v = 1 if v else 0
        if v and not self.level:
            self.rises += 1
        self.level = v
        return None

    def on(self):
        self.value(1)

    def off(self):
        self.value(0)

    def irq(self, handler=None, trigger=IRQ_FALLING | IRQ_RISING, hard=None):
        self.handler = handler
        self.trigger = trigger
        self.hard = hard
        return self

    # --- test side -------------------------------------------------------------------------------
    def drive(self, level):
        """The outside world sets an input's level; fires the IRQ handler on a matching edge."""
        level = 1 if level else 0
        old = self.level
        self.level = level
        if old == level or self.handler is None:
            return
        edge = Pin.IRQ_RISING if level else Pin.IRQ_FALLING
        if self.trigger & edge:
            self.handler(self)


class PWM:
    def __init__(self, pin, freq=None, duty_u16=None):
        self.pin = pin
        self._freq = freq or 1000
        self._duty = duty_u16 or 0
        pwms[pin.id] = self

    def freq(self, f=None):
        if f is None:
            return self._freq
        if not 8 <= f <= 62_500_000:
            raise ValueError("freq out of range")
        self._freq = f
        return None

    def duty_u16(self, d=None):
        if d is None:
            return self._duty
        if not 0 <= d <= 65535:
            raise ValueError("duty out of range")
        self._duty = d
        return None

    def deinit(self):
        self._duty = 0


class ADC:
    ATTN_0DB = 0
    ATTN_11DB = 3

    def __init__(self, pin, atten=None):
        self.pin = pin
        self.atten = atten
        self.raw = 0
        adcs[pin.id if isinstance(pin, Pin) else pin] = self

    def read_u16(self):
        return self.raw


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout
        self.feeds = 0
        wdts.append(self)

    def feed(self):
        self.feeds += 1


class RTC:
    def datetime(self, dt=None):
        if dt is None:
            return rtc_state[0]
        if len(dt) != 8:
            raise ValueError("datetime needs 8 fields")
        rtc_state[0] = tuple(dt)
        return None


def unique_id():
    return UNIQUE_ID


def disable_irq():
    irq_disabled[0] += 1
    return 1


def enable_irq(state):
    irq_disabled[0] -= 1


def reset_cause():
    return reset_cause_state[0]


def reset():
    resets.append(1)
    raise SystemExit("machine.reset")
