"""Settings the clinician or the bench can change (persisted: firmware/persist.py CONFIG_KEYS) and the
board's own (housekeeping period, handler eviction). Volumes in nL or pL, rates in nL/day, times in ms
or s as named. A plain record: the Pump applies changes (firmware/control.py set_config)."""


class Config:
    def __init__(self):
        self.step_pl = 50_000                   # calibration: pL per step
        self.nominal_step_pl = 0                # the pump's nominal hardware step, pL (bench only; bounds the
                                                # calibration and the guard: firmware/calibration.py); 0: the
                                                # board's default calibration above
        self.reservoir_capacity_nl = 20_000_000
        self.low_reservoir_nl = 2_000_000       # LOW_RESERVOIR threshold (domain default 2 mL)
        self.minimum_nl_day = 48_000            # minimum mode: keeps the catheter open
        self.catheter_volume_nl = 200_000       # pump outlet + catheter dead space (bridge bolus)
        self.max_rate_nl_day = 24_000_000       # fastest bolus or prime (1 mL/h)
        self.residual_tolerance_nl = 1_000_000  # refill: drained vs estimate beyond this -> warning
        self.journal_interval_s = 3600          # reservoir/delivered journal; a reset loses at most this
        self.tubing_service_nl = 0              # TUBING_SERVICE reminder after this volume (0: off)
        self.tubing_base_ul = 0                 # lifetime delivered uL at the last calibration
        self.housekeeping_ms = 60_000
        self.evict_handlers = True              # command modules leave RAM after each command (boards);
                                                # the simulator keeps them loaded (speed, same behaviour)
