"""One structured (JSON) log line per invocation.

Fields: request_id, operation, outcome (`ok` or the error code), status, duration_ms, and when
they apply: code (always masked), count, batch, replay, store_error, traceback. Codes never
appear unmasked: the caller puts only `codes.mask(...)` into `code`.
"""

import json
import logging
import sys

logger = logging.getLogger("fccodes")
# One encoder for every line: json.dumps with options builds a new one per call.
_ENCODER = json.JSONEncoder(separators=(",", ":"), sort_keys=True, default=str)
logger.setLevel(logging.INFO)  # whatever the root's level: these lines are the service's record


def setup():
    """Make sure our lines are shown somewhere: FC configures the root logger, bare Python not."""
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def emit(fields, level=logging.INFO):
    """Write `fields` as one JSON line."""
    if not logger.isEnabledFor(level):
        return
    text = _ENCODER.encode(fields)
    # A record made directly: `logger.log` would first walk the stack on every line to find
    # the caller's file and line, which is always this function.
    logger.handle(logger.makeRecord(logger.name, level, __file__, 0, text, (), None, "emit"))
