"""Drug library: the drugs the pump may hold, their concentrations and dose limits.

Shipped with the firmware as data. All amounts are integers in ng (doses) or ng/day (daily doses);
concentrations in mcg/mL. Above a soft limit a command needs "confirm": true; above a hard limit it is
always refused. Values follow published intrathecal practice and are meant to be reviewed by the
clinical team for each deployment. Baclofen, the reference drug: marketed at 50, 500, 1000 and 2000
mcg/mL; daily doses commonly 100-1000 mcg/day; overdoses are reported at continuous rates of 800-2400
mcg/day and with single boluses of 50-280 mcg, hence a soft and a hard limit for each (the hazard and
its tests: docs/hazards.md, H1 Over-infusion).

Each entry: name -> {
    "conc": allowed concentrations (mcg/mL),
    "dose_day": (soft, hard) daily basal dose, ng/day,
    "bolus": (soft, hard) single clinician bolus, ng,
    "demand_dose": (soft, hard) one patient-activated bolus, ng,
    "demand_per_day": (soft, hard) activations per 24 h,
}
"""

DRUGS = {
    "baclofen": {
        "conc": (50, 500, 1000, 2000),
        "dose_day": (1_000_000, 2_000_000),
        "bolus": (100_000, 200_000),
        "demand_dose": (50_000, 100_000),
        "demand_per_day": (4, 8),
    },
    "morphine": {
        "conc": (1000, 2000, 5000, 10000, 25000),
        "dose_day": (10_000_000, 15_000_000),
        "bolus": (1_000_000, 2_000_000),
        "demand_dose": (500_000, 1_000_000),
        "demand_per_day": (6, 12),
    },
    "ziconotide": {
        "conc": (25, 100),
        "dose_day": (12_000, 19_200),
        "bolus": (2_000, 5_000),
        "demand_dose": (1_000, 2_000),
        "demand_per_day": (2, 4),
    },
    "clonidine": {
        "conc": (50, 100, 500, 1000),
        "dose_day": (500_000, 1_000_000),
        "bolus": (50_000, 150_000),
        "demand_dose": (25_000, 50_000),
        "demand_per_day": (4, 8),
    },
    # bench test fluid: no drug, so every dose limit is 0 (no therapy can be programmed with it);
    # it exists for calibration runs and priming on the bench
    "saline": {
        "conc": (1,),
        "dose_day": (0, 0),
        "bolus": (0, 0),
        "demand_dose": (0, 0),
        "demand_per_day": (0, 0),
    },
}

# limit name -> (soft error, hard error, what it is for people)
LIMIT_CODES = {
    "dose_day": ("E_SOFT_LIMIT_DOSE_DAY", "E_HARD_LIMIT_DOSE_DAY", "daily dose"),
    "bolus": ("E_SOFT_LIMIT_BOLUS", "E_HARD_LIMIT_BOLUS", "bolus dose"),
    "demand_dose": ("E_SOFT_LIMIT_DEMAND_DOSE", "E_HARD_LIMIT_DEMAND_DOSE", "demand bolus dose"),
    "demand_per_day": ("E_SOFT_LIMIT_DEMAND_PER_DAY", "E_HARD_LIMIT_DEMAND_PER_DAY",
                       "demand boluses per 24 h"),
}


def lookup(drug):
    return DRUGS.get(drug)
