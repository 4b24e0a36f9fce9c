"""Checks of commands against the drug library (soft and hard limits) and the pump's own bounds."""

from firmware import druglib
from firmware.errors import E_CONC_NOT_IN_LIBRARY, E_UNKNOWN_DRUG, CommandError
from firmware.units import fmt_scaled


def drug_entry(drug):
    entry = druglib.lookup(drug)
    if entry is None:
        raise CommandError(E_UNKNOWN_DRUG, "'%s' is not in the drug library (%s)" % (
            str(drug)[:24], ", ".join(sorted(druglib.DRUGS))))
    return entry


def check_concentration(drug, conc_mcg_ml):
    entry = drug_entry(drug)
    if conc_mcg_ml not in entry["conc"]:
        raise CommandError(E_CONC_NOT_IN_LIBRARY, "%d mcg/mL is not an allowed %s concentration (%s)" % (
            conc_mcg_ml, drug, ", ".join(str(c) for c in entry["conc"])))


def check(drug, limit, value, confirm, unit_scale=1000, unit="mcg"):
    """Refuse `value` above the library's hard limit; above the soft limit unless `confirm`."""
    soft, hard = drug_entry(drug)[limit]
    soft_code, hard_code, what = druglib.LIMIT_CODES[limit]
    if value > hard:
        raise CommandError(hard_code, "%s %s exceeds the hard limit %s for %s" % (
            what, fmt_scaled(value, unit_scale, unit), fmt_scaled(hard, unit_scale, unit), drug))
    if value > soft and not confirm:
        raise CommandError(soft_code, "%s %s exceeds the soft limit %s for %s: resend with \"confirm\": true" % (
            what, fmt_scaled(value, unit_scale, unit), fmt_scaled(soft, unit_scale, unit), drug))

