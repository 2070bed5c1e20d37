"""One structured (JSON) log line per invocation.

Fields: request_id, operation, outcome (`ok` or the error code), status, duration_ms, and when
they apply: code (always masked), count, batch, replay, store_error, traceback. Codes never
appear unmasked: the caller puts only `codes.mask(...)` into `code`.
"""

import json
import logging
import sys

logger = logging.getLogger("fccodes")
logger.setLevel(logging.INFO)  # whatever the root's level: these lines are the service's record


def setup():
    """Make sure our lines are shown somewhere: FC configures the root logger, bare Python not."""
    if not logging.getLogger().handlers and not logger.handlers:
        handler = logging.StreamHandler(sys.stdout)
        handler.setFormatter(logging.Formatter("%(message)s"))
        logger.addHandler(handler)


def emit(fields, level=logging.INFO):
    """Write `fields` as one JSON line."""
    logger.log(level, json.dumps(fields, separators=(",", ":"), sort_keys=True, default=str))
