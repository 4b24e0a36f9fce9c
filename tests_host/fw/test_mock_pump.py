"""Mock pump bench realism: per-pulse noise (seeded, integer, identical on both interpreters), tubing
wear, per-pulse volume recording. Defaults keep the exact old behaviour."""

from helpers import DAY_S, filled_sim, ok

from hal.mock.clock import VirtualClock
from hal.mock.pump import MockPump, xorshift32


def _pump(**kw):
    pump = MockPump(**kw)
    pump.fill(20_000_000_000)
    pump.enable(True)
    return pump


def _volumes(pump, pulses):
    out = []
    for _ in range(pulses):
        before = pump.moved_pl
        pump.step()
        out.append(pump.moved_pl - before)
    return out


def test_xorshift32_known_sequence():
    # Marsaglia's xorshift32 (13, 17, 5) from state 1: the published first outputs
    state = 1
    seen = []
    for _ in range(3):
        state = xorshift32(state)
        seen.append(state)
    assert seen == [270369, 67634689, 2647435461], seen


def test_defaults_move_exactly_the_true_step():
    pump = _pump(true_pl_per_step=48_500)
    assert set(_volumes(pump, 500)) == {48_500}
    state = pump.state()
    assert state["noise_ppm"] == 0 and state["wear_ppm_per_ml"] == 0
    assert state["moved_pl"] == 500 * 48_500 == state["tubing_pl"]
    assert pump.step_volumes is None


def test_noise_is_bounded_seeded_and_averages_out():
    a = _volumes(_pump(noise_ppm=20_000, noise_seed=7), 20_000)
    b = _volumes(_pump(noise_ppm=20_000, noise_seed=7), 20_000)
    c = _volumes(_pump(noise_ppm=20_000, noise_seed=8), 20_000)
    assert a == b                      # same seed, same run
    assert a != c
    assert min(a) >= 49_000 and max(a) <= 51_000   # +/- 2 % of 50 000 pL
    assert min(a) < 49_100 and max(a) > 50_900     # and the whole span is used
    assert len(set(a)) > 1000
    mean = sum(a) / len(a)
    assert abs(mean - 50_000) < 50, mean           # uniform: the mean stays at the true step (0.1 %)


def test_noise_sequence_is_the_same_on_both_interpreters():
    # pulse volumes follow from the xorshift32 outputs alone: 1000 pL span -> 50_000 + r % 2001 - 1000
    volumes = _volumes(_pump(noise_ppm=20_000, noise_seed=1), 3)
    assert volumes == [50_000 + 270369 % 2001 - 1000, 50_000 + 67634689 % 2001 - 1000,
                       50_000 + 2647435461 % 2001 - 1000], volumes


def test_tubing_wear_lowers_output_with_volume_and_resets():
    pump = _pump(wear_ppm_per_ml=10_000)        # 1 % less for every mL through the tubing
    first = _volumes(pump, 1)[0]
    assert first == 50_000
    for _ in range(40_000):                     # 2 mL at about 50 nL a pulse
        pump.step()
    moved_ml = pump.tubing_pl / 1e9
    now = _volumes(pump, 1)[0]
    expected = 50_000 * (1 - 0.01 * moved_ml)
    assert abs(now - expected) <= 1, (now, expected)
    assert 48_900 < now < 49_100
    pump.replace_tubing()
    assert _volumes(pump, 1)[0] == 50_000


def test_recorded_volumes_match_moved_and_faults_record_zero():
    clock = VirtualClock()
    pump = _pump(noise_ppm=5_000, noise_seed=3)
    pump.record_steps(clock, volumes=True)
    before = pump.moved_pl
    for _ in range(100):
        pump.step()
    pump.stalled = True
    pump.step()
    pump.stalled = False
    pump.occluded = True
    pump.step()
    assert len(pump.step_times) == len(pump.step_volumes) == 102
    assert pump.step_volumes[-2:] == [0, 0]
    assert sum(pump.step_volumes) == pump.moved_pl - before
    pump.step_times = None                      # sim.record on=0: nothing more is recorded
    pump.occluded = False
    pump.step()
    assert len(pump.step_volumes) == 102


def test_simulated_noisy_run_firmware_count_unchanged():
    sim = filled_sim(500, 2000, 20)
    sim.mock_pump.noise_ppm = 30_000
    sim.mock_pump.seed(11)
    sim.mock_pump.record_steps(sim.clock, volumes=True)
    sim.run_until_s(DAY_S)
    status = ok(sim.request("status"))
    assert status["steps"] == 5000 and status["delivered_pl"] == 5000 * 50_000
    moved = sim.mock_pump.moved_pl
    assert moved == sum(sim.mock_pump.step_volumes)
    assert moved != 5000 * 50_000 and abs(moved - 5000 * 50_000) < 5000 * 50_000 // 200
