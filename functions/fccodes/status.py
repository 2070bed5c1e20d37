"""A code's status, derived from its row: the one rule that query shows, redeem refuses by, and
listings and figures count (service.py and campaigns.py both read it from here)."""

UNUSED = "UNUSED"
USED = "USED"
EXPIRED = "EXPIRED"
NOT_YET_VALID = "NOT_YET_VALID"
CODE_DISABLED = "DISABLED"  # a code's status while it or its batch is disabled


def is_disabled(row):
    return bool(row.get("disabled")) or bool(row.get("batch_disabled"))


def status_of(row, now):
    """The derived status: DISABLED (the code or its batch), USED, EXPIRED, NOT_YET_VALID or
    UNUSED (in that precedence).

    Query shows it; listings and figures count it; redeem refuses anything but UNUSED with the
    matching error (service.REFUSALS).
    """
    if is_disabled(row):
        return CODE_DISABLED
    if row.get("state") == USED or row.get("uses", 0) >= row.get("max_uses", 1):
        return USED
    if row.get("valid_until") is not None and now >= row["valid_until"]:
        return EXPIRED
    if now < row.get("valid_from", 0):
        return NOT_YET_VALID
    return UNUSED
