"""The original tutorial's answers, for programs written against it (the TUTORIAL_ANSWERS setting).

The tutorial's functions answered a direct invoke with a bare word, and its callers compare the
answer with that word. With the setting on, a direct invoke in the tutorial's shape (`num` for
gen_code, `uuid` for the others) gets the same word for the same outcome, decided by today's
rules (validity enforced on redeem, nothing reported done that was not stored); docs/functions.md
("Answers in the tutorial's words") lists where the two differ. Outcomes the tutorial had no word
for (a store that is unavailable, a bug) keep the usual error body, so that no caller mistakes
them for a definite answer.
"""

from .errors import (
    CodeAlreadyUsed,
    CodeExpired,
    CodeNotFound,
    CodeNotYetValid,
    InvalidCode,
    InvalidRequest,
)

OK = "ok"
SUCCEED = "SUCCEED"
FAILED = "FAILED"
NO_EXISTED = "NO EXISTED"
TIME_INVALID = "TIMEINVALID"
UNACTIVED = "UNACTIVED"  # the tutorial's stored status of an unused code
ACTIVED = "ACTIVED"  # ... and of a used one

# The tutorial's own field, per operation: an event that has it is in the tutorial's shape.
MARKERS = {"generate": "num", "redeem": "uuid", "query": "uuid", "delete": "uuid"}

# Refusals a caller of use_code / del_code saw as "FAILED".
_REFUSED = (
    CodeNotFound,
    CodeAlreadyUsed,
    CodeExpired,
    CodeNotYetValid,
    InvalidCode,
    InvalidRequest,
)


def in_tutorial_shape(operation, params):
    """True when a direct invoke of `operation` names the tutorial's own field."""
    marker = MARKERS.get(operation)
    return marker is not None and isinstance(params, dict) and marker in params


def answer(operation, result, error, now):
    """The tutorial's word for this outcome, or None to answer as usual.

    `result` is the service's result on success (a CodeInfo for query), `error` the ServiceError
    otherwise; `now` is epoch milliseconds.
    """
    if error is None:
        if operation == "generate":
            return OK
        if operation in ("redeem", "delete"):
            return SUCCEED
        if operation == "query":
            return _status(result, now)
        return None
    if operation in ("redeem", "delete") and isinstance(error, _REFUSED):
        return FAILED
    if operation == "query" and isinstance(error, (CodeNotFound, InvalidCode)):
        return NO_EXISTED
    return None


def _status(info, now):
    # The tutorial checked the window first (`start <= now <= end`), then showed the status.
    if info.valid_from is not None and now < info.valid_from:
        return TIME_INVALID
    if info.valid_until is not None and now >= info.valid_until:
        return TIME_INVALID
    return ACTIVED if info.status == "USED" else UNACTIVED
