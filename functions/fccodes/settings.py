"""Configuration, read once per instance from the environment into a validated object.

Only the edge (`fccodes.app`) calls `Settings.from_env`; everything below receives the object.
A bad value raises `ConfigurationError` naming the variable, so the initializer fails fast.
"""

import re

from .codes import MAX_BODY_LENGTH, MIN_BODY_LENGTH
from .errors import ConfigurationError
from .timefmt import parse_offset

DEFAULT_TABLE = "codes"
DEFAULT_TIMEZONE = "+08:00"
DEFAULT_BATCHES_TABLE = "batches"
DEFAULT_CODE_LENGTH = 15
DEFAULT_MAX_CODES = 10000
MAX_CODES_LIMIT = 100000  # one call's codes are held in memory and returned in one body
DEFAULT_GEN_CONCURRENCY = 8
# Asynchronous generation (docs/functions.md, "Millions of codes"): batches above
# MAX_CODES_PER_REQUEST are written by the worker function in chunks.
MAX_CODES_PER_BATCH_LIMIT = 10000000
DEFAULT_CHUNK_SIZE = 10000  # codes per worker invocation; also one key-list row (<= 10,000)
MIN_CHUNK_SIZE = 10
DEFAULT_GEN_DEADLINE = 7200  # seconds a batch may take before it counts as failed
MAX_GEN_CONCURRENCY = 64
DEFAULT_OTS_TIMEOUT = 5.0
# Tablestore's rule for table names; anything else would fail every request, not the initializer.
_TABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,254}$")


class Settings(object):
    """Validated settings; see docs/functions.md for each variable."""

    __slots__ = (
        "batches_table",
        "chunk_size",
        "code_length",
        "gen_concurrency",
        "gen_deadline",
        "gen_worker",
        "imported_codes",
        "invoke_endpoint",
        "max_codes_per_batch",
        "max_codes_per_request",
        "ots_endpoint",
        "ots_instance",
        "ots_timeout",
        "table",
        "timezone",
        "tutorial_answers",
    )

    def __init__(
        self,
        ots_endpoint,
        ots_instance,
        table=DEFAULT_TABLE,
        timezone=DEFAULT_TIMEZONE,
        code_length=DEFAULT_CODE_LENGTH,
        max_codes_per_request=DEFAULT_MAX_CODES,
        gen_concurrency=DEFAULT_GEN_CONCURRENCY,
        ots_timeout=DEFAULT_OTS_TIMEOUT,
        batches_table=DEFAULT_BATCHES_TABLE,
        imported_codes=True,
        tutorial_answers=False,
        gen_worker="",
        invoke_endpoint="",
        max_codes_per_batch=MAX_CODES_PER_BATCH_LIMIT,
        chunk_size=DEFAULT_CHUNK_SIZE,
        gen_deadline=DEFAULT_GEN_DEADLINE,
    ):
        self.ots_endpoint = _endpoint(ots_endpoint)
        self.ots_instance = _required("OTS_INSTANCE", ots_instance)
        self.table = _table(table)
        self.batches_table = _table(batches_table, "BATCHES_TABLE")
        try:
            self.timezone = parse_offset(timezone)
        except ValueError as exc:
            raise ConfigurationError("CODE_TIMEZONE: %s" % exc) from None
        self.code_length = _int("CODE_LENGTH", code_length, MIN_BODY_LENGTH, MAX_BODY_LENGTH)
        self.max_codes_per_request = _int(
            "MAX_CODES_PER_REQUEST", max_codes_per_request, 1, MAX_CODES_LIMIT
        )
        self.gen_concurrency = _int("GEN_CONCURRENCY", gen_concurrency, 1, MAX_GEN_CONCURRENCY)
        self.ots_timeout = _float("OTS_TIMEOUT", ots_timeout, 0.05, 300.0)
        self.imported_codes = _bool("IMPORTED_CODES", imported_codes)
        self.tutorial_answers = _bool("TUTORIAL_ANSWERS", tutorial_answers)
        self.gen_worker = _worker(gen_worker)
        self.invoke_endpoint = _optional_endpoint("INVOKE_ENDPOINT", invoke_endpoint)
        self.max_codes_per_batch = _int(
            "MAX_CODES_PER_BATCH", max_codes_per_batch, 1, MAX_CODES_PER_BATCH_LIMIT
        )
        self.chunk_size = _int("GEN_CHUNK_SIZE", chunk_size, MIN_CHUNK_SIZE, DEFAULT_CHUNK_SIZE)
        self.gen_deadline = _int("GEN_DEADLINE", gen_deadline, 10, 86400)

    @property
    def asynchronous(self):
        """Whether batches above MAX_CODES_PER_REQUEST can be generated (GEN_WORKER is set)."""
        return bool(self.gen_worker) and self.max_codes_per_batch > self.max_codes_per_request

    @classmethod
    def from_env(cls, environ):
        """Settings from an environment mapping (os.environ at the edge)."""
        values = {}
        for name, variable in (
            ("table", "CODES_TABLE"),
            ("timezone", "CODE_TIMEZONE"),
            ("code_length", "CODE_LENGTH"),
            ("max_codes_per_request", "MAX_CODES_PER_REQUEST"),
            ("gen_concurrency", "GEN_CONCURRENCY"),
            ("ots_timeout", "OTS_TIMEOUT"),
            ("batches_table", "BATCHES_TABLE"),
            ("imported_codes", "IMPORTED_CODES"),
            ("tutorial_answers", "TUTORIAL_ANSWERS"),
            ("gen_worker", "GEN_WORKER"),
            ("invoke_endpoint", "INVOKE_ENDPOINT"),
            ("max_codes_per_batch", "MAX_CODES_PER_BATCH"),
            ("chunk_size", "GEN_CHUNK_SIZE"),
            ("gen_deadline", "GEN_DEADLINE"),
        ):
            value = environ.get(variable, "").strip()
            if value:  # empty counts as unset: templates often declare variables blank
                values[name] = value
        return cls(environ.get("OTS_ENDPOINT", ""), environ.get("OTS_INSTANCE", ""), **values)


class Credentials(object):
    """An access key pair with an optional STS token; compares by value (rotation check)."""

    __slots__ = ("access_key_id", "access_key_secret", "security_token")

    def __init__(self, access_key_id, access_key_secret, security_token=None):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token or None  # FC may hand over an empty token

    def key(self):
        return (self.access_key_id, self.access_key_secret, self.security_token)

    def __eq__(self, other):
        return isinstance(other, Credentials) and self.key() == other.key()

    def __ne__(self, other):
        return not self == other

    def __hash__(self):
        return hash(self.key())

    def __repr__(self):  # never show the secret or the token
        return "Credentials(access_key_id=%r)" % self.access_key_id


_ALIASES = (
    ("access_key_id", "accessKeyId"),
    ("access_key_secret", "accessKeySecret"),
    ("security_token", "securityToken"),
)


def credentials_from(context, environ):
    """The credentials for this invocation: FC's `context.credentials`, else the environment.

    FC documents snake_case attributes; camelCase ones are seen in the wild and tolerated, as
    are dicts. python3.12 has no `context.credentials`: then `ALIBABA_CLOUD_ACCESS_KEY_ID`,
    `ALIBABA_CLOUD_ACCESS_KEY_SECRET` and `ALIBABA_CLOUD_SECURITY_TOKEN` are used.
    """
    found = getattr(context, "credentials", None)
    if found is not None:
        values = [_attribute(found, snake, camel) for snake, camel in _ALIASES]
        if values[0] and values[1]:
            return Credentials(*values)
    key_id = environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if key_id and secret:
        return Credentials(key_id, secret, environ.get("ALIBABA_CLOUD_SECURITY_TOKEN"))
    raise ConfigurationError(
        "no credentials: the FC context has none and ALIBABA_CLOUD_ACCESS_KEY_ID / "
        "ALIBABA_CLOUD_ACCESS_KEY_SECRET are not set (give the function a role)"
    )


def _attribute(obj, *names):
    for name in names:
        value = obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)
        if value:
            return value
    return None


def _required(variable, value):
    value = (value or "").strip()
    if not value:
        raise ConfigurationError("%s is required" % variable)
    return value


def _table(value, variable="CODES_TABLE"):
    value = _required(variable, value)
    if not _TABLE_NAME_RE.match(value):
        raise ConfigurationError(
            "%s must be a Tablestore table name (1-255 letters, digits and _, not "
            "starting with a digit), got %r" % (variable, value)
        )
    return value


def _endpoint(value):
    value = _required("OTS_ENDPOINT", value).rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ConfigurationError("OTS_ENDPOINT must start with http:// or https://, got %r" % value)
    return value


# A function as FC's invoke APIs address it: `service/function` (FC 2.0, template.yml) or
# `function` (FC 3.0, s.yaml). FC's names: letters, digits, _ and -, not starting with a digit
# or -, at most 64 (128 on FC 3.0).
_WORKER_RE = re.compile(r"^(?:[A-Za-z_][A-Za-z0-9_-]{0,127}/)?[A-Za-z_][A-Za-z0-9_-]{0,127}$")


def _worker(value):
    value = (value or "").strip()
    if value and not _WORKER_RE.match(value):
        raise ConfigurationError(
            "GEN_WORKER must name a function as `service/function` (FC 2.0) or `function` "
            "(FC 3.0), got %r" % value
        )
    return value


def _optional_endpoint(variable, value):
    value = (value or "").strip().rstrip("/")
    if value and not value.startswith(("http://", "https://")):
        raise ConfigurationError(
            "%s must start with http:// or https://, got %r" % (variable, value)
        )
    return value


def _int(variable, value, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be an integer, got %r" % (variable, value)) from None
    if not low <= number <= high:
        raise ConfigurationError("%s must be in %d..%d, got %d" % (variable, low, high, number))
    return number


def _float(variable, value, low, high):
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ConfigurationError("%s must be a number, got %r" % (variable, value)) from None
    if not low <= number <= high:
        raise ConfigurationError("%s must be in %g..%g, got %g" % (variable, low, high, number))
    return number


_TRUE = ("1", "true", "on", "yes")
_FALSE = ("0", "false", "off", "no")


def _bool(variable, value):
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ConfigurationError(
        "%s must be one of %s (on) or %s (off), got %r"
        % (variable, "/".join(_TRUE), "/".join(_FALSE), value)
    )
