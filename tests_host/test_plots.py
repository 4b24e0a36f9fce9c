"""The PNGs are real pictures: valid PNG structure (signature, IHDR with its CRC), a sensible size,
and the drawn curves and event markers are there in their colours."""

import struct
import zlib

import pytest
from PIL import Image
from pumpctl import accuracy, plots

RED, BLUE, GREEN, ORANGE = (214, 39, 40), (31, 119, 180), (44, 160, 44), (255, 127, 14)   # tab: colours


def read_ihdr(path):
    """Check the PNG signature and IHDR chunk by hand; return (width, height, bit depth, colour type)."""
    data = open(path, "rb").read()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG signature"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[16:29]
    (crc,) = struct.unpack(">I", data[29:33])
    assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, "IHDR CRC mismatch"
    width, height, depth, colour = struct.unpack(">IIBB", body[:10])
    assert data[-12:] == b"\x00\x00\x00\x00IEND\xaeB`\x82", "no IEND chunk at the end"
    return width, height, depth, colour, len(data)


def colour_share(path, rgb, tol=20):
    raw = Image.open(path).convert("RGB").tobytes()
    pixels = [raw[i:i + 3] for i in range(0, len(raw), 3)]
    near = sum(1 for p in pixels if all(abs(p[i] - rgb[i]) <= tol for i in range(3)))
    return near / len(pixels)


def ink_share(path):
    pixels = Image.open(path).convert("L").tobytes()
    return sum(1 for p in pixels if p < 200) / len(pixels)


@pytest.fixture(scope="module")
def sim_result():
    return accuracy.sim_accuracy(accuracy.open_sim("inprocess", true_pl_per_step=48_500), 20.0)


def test_trumpet_png(tmp_path, sim_result):
    path = plots.plot_trumpet(sim_result, tmp_path / "trumpet.png", title="test")
    width, height, depth, colour, size = read_ihdr(path)
    assert (width, height) == (1100, 450) and depth == 8 and colour in (2, 6)
    assert 20_000 < size < 1_000_000
    assert plots.png_size(path) == (width, height)
    Image.open(path).verify()
    assert colour_share(path, RED) > 0.001 and colour_share(path, BLUE) > 0.01   # max curve, flow trace
    assert 0.02 < ink_share(path) < 0.6


def _samples(days):
    out = []
    for day in range(days + 1):
        delivered = day * 250_000_000                # 250 uL/day in pL
        reservoir = 20_000_000_000 - (delivered % 15_000_000_000)
        out.append({"t_s": day * 86400, "delivered_pl": delivered, "delivered_pg": delivered * 2,
                    "reservoir_pl": reservoir, "mock_moved_pl": delivered * 97 // 100,
                    "mock_reservoir_pl": reservoir + 1_000_000_000})
    return out


EVENTS = [
    {"t_s": 0, "type": "program", "data": {"new": {"mode": "continuous", "dose_ng_day": 500_000}}},
    {"t_s": 60 * 86400, "type": "refill", "data": {"drug": "baclofen"}},
    {"t_s": 30 * 86400, "type": "bolus_start", "data": {"kind": "bolus"}},
    {"t_s": 32 * 86400, "type": "bolus_end", "data": {"kind": "bolus"}},
    {"t_s": 55 * 86400, "type": "alarm_raise", "data": {"code": "LOW_RESERVOIR", "tier": "non-critical"}},
    {"t_s": 70 * 86400, "type": "warning", "data": {"code": "TUBING_SERVICE"}},
]


def test_timeline_png_marks_events(tmp_path):
    marked = plots.plot_timeline(_samples(90), EVENTS, tmp_path / "timeline.png", title="90 days")
    plain = plots.plot_timeline(_samples(90), [], tmp_path / "plain.png")
    for path in (marked, plain):
        width, height, depth, colour, size = read_ihdr(path)
        assert (width, height) == (1200, 800) and 20_000 < size < 2_000_000
        assert 0.01 < ink_share(path) < 0.6
    assert colour_share(marked, GREEN) > 0.0003 and colour_share(plain, GREEN) == 0   # the refill line
    assert colour_share(marked, RED) > 0.0003 and colour_share(plain, RED) == 0       # the alarm
    assert colour_share(marked, ORANGE, tol=40) > colour_share(plain, ORANGE, tol=40)  # the bolus span


def test_daily_dose_from_samples():
    dose = plots.daily_dose_mcg(_samples(3))
    assert dose == [(86400, 500.0), (172800, 500.0), (259200, 500.0)]     # 250 uL/day at 2000 mcg/mL


def test_png_size_refuses_other_files(tmp_path):
    path = tmp_path / "x.png"
    path.write_bytes(b"GIF89a" + b"\0" * 40)
    with pytest.raises(ValueError):
        plots.png_size(path)
