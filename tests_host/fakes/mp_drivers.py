"""hal/mcu driver checks, run on the MicroPython unix port with tests_host/fakes first on MICROPYPATH:

    micropython mp_drivers.py CHECK [TMPDIR]

Each CHECK drives one driver through the fake `machine` and asserts what the real pins, PWM, ADC, RTC
and WDT would have seen. Prints `PASS CHECK` on success; any failed assert exits non-zero.
"""

import sys
import time

import machine
from machine import ADC, PWM, RTC, WDT, Pin

MASK = 0x3FFFFFFF


def check_stepper():
    from hal.mcu.stepper import StepDirStepper

    step, dirp, en = Pin(102, Pin.OUT), Pin(103, Pin.OUT), Pin(104, Pin.OUT)
    s = StepDirStepper(step, dirp, en, forward_level=1)
    assert en.level == 1, "EN must start high (driver off)"
    assert s.step() is False and step.rises == 0 and s.pulses_sent() == 0
    s.enable(True)
    assert en.level == 0 and s.is_enabled()
    t0 = time.ticks_us()
    for _ in range(3):
        assert s.step() is True
    assert time.ticks_diff(time.ticks_us(), t0) >= 6, "each pulse is held >= 2 us"
    assert step.rises == 3 and step.level == 0 and s.pulses_sent() == 3
    s.set_forward(False)
    assert dirp.level == 0
    s.set_forward(True)
    assert dirp.level == 1
    s._pulses = MASK
    s.step()
    assert s.pulses_sent() == 0, "pulse counter wraps at 2**30"
    s.enable(False)
    assert en.level == 1 and s.step() is False and step.rises == 4


def check_clock():
    from hal.mcu.clock import McuClock

    machine.rtc_state[0] = (2021, 1, 1, 4, 0, 0, 0, 0)
    c = McuClock(RTC())
    assert c.rtc_s() == -1, "RTC before 2024 reads as never set"
    machine.rtc_state[0] = (2024, 1, 1, 0, 0, 0, 0, 0)
    assert c.rtc_s() == 0
    machine.rtc_state[0] = (2024, 3, 1, 4, 12, 0, 5, 0)
    assert c.rtc_s() == (31 + 29) * 86400 + 12 * 3600 + 5, c.rtc_s()
    c.set_rtc_s(366 * 86400 + 3661)
    assert machine.rtc_state[0] == (2025, 1, 1, 2, 1, 1, 1, 0), machine.rtc_state[0]
    assert c.rtc_s() == 366 * 86400 + 3661
    t = c.ticks_ms()
    assert 0 <= t <= MASK
    assert c.ticks_add(MASK, 1) == 0 and c.ticks_diff(0, MASK) == 1 and c.ticks_diff(MASK, 0) == -1
    # no serial: sleeps to the deadline, never past it by much
    t0 = time.ticks_ms()
    c.sleep_until(c.ticks_add(c.ticks_ms(), 30), None)
    dt = time.ticks_diff(time.ticks_ms(), t0)
    assert 28 <= dt < 200, dt
    # deadline already past: returns at once
    t0 = time.ticks_ms()
    c.sleep_until(c.ticks_add(c.ticks_ms(), -5000), None)
    assert time.ticks_diff(time.ticks_ms(), t0) < 20

    class Pending:
        def any(self):
            return 3

    t0 = time.ticks_ms()
    c.sleep_until(c.ticks_add(c.ticks_ms(), 2000), Pending())
    assert time.ticks_diff(time.ticks_ms(), t0) < 100, "input pending: no sleep"


def check_serial():
    # stdin carries b'{"a":1}\nxyz' from the test and stays open; stdout is the link's output
    from hal.mcu.clock import McuClock
    from hal.mcu.serial import UsbSerial

    c = McuClock(RTC())
    ser = UsbSerial(sys.stdin.buffer, sys.stdout.buffer)
    t0 = time.ticks_ms()
    c.sleep_until(c.ticks_add(c.ticks_ms(), 3000), ser)
    waited = time.ticks_diff(time.ticks_ms(), t0)
    assert waited < 2500, "sleep_until returns early on input (waited %d ms)" % waited
    deadline = time.ticks_add(time.ticks_ms(), 2000)
    while ser.any() < 11 and time.ticks_diff(deadline, time.ticks_ms()) > 0:
        time.sleep_ms(5)
    assert ser.any() == 11, ser.any()
    assert ser.read(4) == b'{"a"'
    assert ser.any() == 7
    assert ser.read(100) == b":1}\nxyz"
    # stdin is still open with nothing in it: both must return at once (a blocking read would hang)
    t0 = time.ticks_ms()
    assert ser.any() == 0 and ser.read(10) == b"" and not ser.eof
    assert time.ticks_diff(time.ticks_ms(), t0) < 100
    ser.write(b"OUT\n")


def check_rotation():
    from hal.mcu.rotation import EdgeCounter

    pin = Pin(116, Pin.IN, Pin.PULL_UP)
    r = EdgeCounter(pin, Pin.IRQ_RISING, hard=True)
    assert pin.hard is True and pin.trigger == Pin.IRQ_RISING
    for _ in range(5):
        pin.drive(0)
        pin.drive(1)
    assert r.count() == 5
    r._count = MASK
    pin.drive(0)
    pin.drive(1)
    assert r.count() == 0
    pin2 = Pin(117, Pin.IN)
    EdgeCounter(pin2, Pin.IRQ_FALLING)
    assert pin2.hard is None, "hard is not passed unless asked (ESP32 has no hard pin IRQ)"


def check_analog():
    from hal.mcu.analog import ScaledAdc

    adc = ADC(Pin(126))
    bat = ScaledAdc(adc, 3300, 2, 1)
    for raw, mv in ((0, 0), (65535, 6600), (32768, 3300), (19859, 2000), (1, 0)):
        adc.raw = raw
        assert bat.read_mv() == mv, (raw, bat.read_mv())
    adc.raw = 40000
    assert ScaledAdc(adc, 3300, 1, 1).read_mv() == 2014      # 40000 * 3300 / 65535 = 2014.2
    assert ScaledAdc(adc, 3300, 11, 10).read_mv() == 2215    # exact 2215.6; pin mV first: 2014 * 1.1
    assert ScaledAdc(adc, 3300, 147, 100).read_mv() == 2961  # 47k/100k: 2014 * 1.47 = 2960.6
    try:
        ScaledAdc(adc, 20000, 1, 1)
        raise AssertionError("overflowing factors accepted")
    except ValueError:
        pass


def check_buzzer():
    from hal.mcu.buzzer import PwmBuzzer

    pwm = PWM(Pin(115))
    pwm.duty_u16(1234)
    bz = PwmBuzzer(pwm)
    assert pwm.duty_u16() == 0, "silent after construction"
    bz.tone(880)
    assert pwm.freq() == 880 and pwm.duty_u16() == 32768
    bz.tone(5)
    assert pwm.freq() == 20
    bz.tone(50000)
    assert pwm.freq() == 20000
    bz.off()
    assert pwm.duty_u16() == 0
    bz.tone(440)
    bz.tone(0)
    assert pwm.duty_u16() == 0


def check_watchdog():
    from hal.mcu.watchdog import McuWatchdog

    del machine.wdts[:]
    w = McuWatchdog(WDT, 9000, max_timeout_ms=8388)
    assert not w.armed() and not machine.wdts, "not armed before the first feed"
    w.feed()
    w.feed()
    assert w.armed() and len(machine.wdts) == 1
    assert machine.wdts[0].timeout == 8388 and machine.wdts[0].feeds == 2


def check_storage():
    import os

    from hal.mcu.storage import FlashStorage

    base = sys.argv[2]
    st = FlashStorage(base + "/rec/")
    FlashStorage(base + "/rec")          # existing directory is fine
    assert st.read("a") is None
    st.write("a.new", b"\x00\x01hello")
    assert st.read("a.new") == b"\x00\x01hello"
    st.write("a", b"old")
    st.rename("a.new", "a")               # replaces the old record
    assert st.read("a") == b"\x00\x01hello" and st.read("a.new") is None
    st.remove("a")
    st.remove("a")                        # missing: not an error
    assert st.read("a") is None
    os.mkdir(base + "/rec/dir")
    try:
        st.read("dir")                    # exists but unreadable: OSError, not None
        raise AssertionError("read of a directory returned")
    except OSError:
        pass
    try:
        st.read("../x")
        raise AssertionError("path escape accepted")
    except ValueError:
        pass
    try:
        st.rename("missing", "b")
        raise AssertionError("rename of a missing record returned")
    except OSError:
        pass


def check_boot():
    from hal.mcu.boot import safe_boot_reason

    pin = Pin(140, Pin.IN, Pin.PULL_UP)
    flag = sys.argv[2] + "/safe_boot"
    assert safe_boot_reason(pin, 0, flag) is None
    pin.level = 0
    assert "button" in safe_boot_reason(pin, 0, flag)
    pin.level = 1
    open(flag, "w").close()
    assert "safe_boot" in safe_boot_reason(pin, 0, flag)


CHECKS = {
    "stepper": check_stepper, "clock": check_clock, "serial": check_serial, "rotation": check_rotation,
    "analog": check_analog, "buzzer": check_buzzer, "watchdog": check_watchdog, "storage": check_storage,
    "boot": check_boot,
}

CHECKS[sys.argv[1]]()
print("PASS", sys.argv[1])
