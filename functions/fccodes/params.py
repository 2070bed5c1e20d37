"""Operation parameters: validated here, before anything reaches the store.

Each `parse_*` takes the decoded JSON object (and the code from the URL path, if any) and returns
a request object, or raises `InvalidRequest` naming the field as the caller spelled it, or
`InvalidCode`. Unknown fields are rejected (a typo such as `"cuont"` must not silently generate
one code); the original tutorial's names (`num`, `"start period"`, `"end period"`, `uuid`) are
accepted as aliases.
"""

import json
import re

from . import api, codes, timefmt
from .errors import InvalidCode, InvalidRequest

# Limits and field names come from the API's declaration (fccodes.api).
MAX_USES_LIMIT = api.GENERATE.field("max_uses").maximum
MAX_USER_ID_LENGTH = api.REDEEM.field("user_id").max_length
MAX_BATCH_LENGTH = api.GENERATE.field("batch").max_length
MAX_CODE_INPUT_LENGTH = api.MAX_CODE_INPUT_LENGTH
MAX_METADATA_BYTES = api.MAX_METADATA_BYTES
MAX_PER_USER_LIMIT = api.MAX_PER_USER_LIMIT
MAX_IDEMPOTENCY_KEY_LENGTH = api.MAX_IDEMPOTENCY_KEY_LENGTH
IDEMPOTENCY_HEADER = api.IDEMPOTENCY_HEADER
PAGE_LIMIT = api.PAGE_LIMIT
DEFAULT_PAGE_LIMIT = api.DEFAULT_PAGE_LIMIT
REDEMPTIONS_LIMIT = api.REDEMPTIONS_LIMIT
DEFAULT_REDEMPTIONS_LIMIT = api.DEFAULT_REDEMPTIONS_LIMIT
CODE_STATUSES = api.CODE_STATUS


def _names(operation):
    """(canonical name, accepted aliases) of each body field of a declared operation."""
    return tuple((f.name, f.aliases) for f in operation.body)


GENERATE_FIELDS = _names(api.GENERATE)
# Direct invoke (no path) names the code in the body, as `code` or the tutorial's `uuid`.
CODE_FIELD = ("code", ("uuid",))
REDEEM_FIELDS = (CODE_FIELD, *_names(api.REDEEM))
LOOKUP_FIELDS = (CODE_FIELD,)


class _Fields(object):
    """A field spec with its name lookup built once: {name or alias: canonical name}."""

    __slots__ = ("canonical", "names")

    def __init__(self, spec):
        self.canonical = [name for name, _ in spec]
        self.names = {}
        for canonical, aliases in spec:
            self.names[canonical] = canonical
            for alias in aliases:
                self.names[alias] = canonical


_GENERATE = _Fields(GENERATE_FIELDS)
_REDEEM = _Fields(REDEEM_FIELDS)
_REDEEM_BODY = _Fields(REDEEM_FIELDS[1:])  # the code came in the path
_LOOKUP = _Fields(LOOKUP_FIELDS)
_NONE = _Fields(())


class GenerateRequest(object):
    __slots__ = (
        "batch",
        "count",
        "customer",
        "idempotency_key",
        "max_uses",
        "metadata",
        "per_user_limit",
        "prefix",
        "valid_from",
        "valid_until",
    )

    def __init__(
        self,
        count,
        valid_from,
        valid_until,
        max_uses,
        prefix,
        batch,
        metadata=None,
        customer=None,
        per_user_limit=None,
        idempotency_key=None,
    ):
        self.count = count
        self.valid_from = valid_from  # epoch ms, None = now
        self.valid_until = valid_until  # epoch ms, None = never expires
        self.max_uses = max_uses
        self.prefix = prefix  # "" = none
        self.batch = batch  # None = generate one
        self.metadata = metadata  # compact JSON text of an object, None = none
        self.customer = customer  # the only user_id that may redeem, None = anyone
        self.per_user_limit = per_user_limit  # codes of the batch per user_id, None = no limit
        self.idempotency_key = idempotency_key

    def fingerprint(self):
        """What identifies the request for idempotency: every parameter but the key itself."""
        import hashlib

        text = repr(
            (
                self.count,
                self.valid_from,
                self.valid_until,
                self.max_uses,
                self.prefix,
                self.batch,
                self.metadata,
                self.customer,
                self.per_user_limit,
            )
        )
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


class RedeemRequest(object):
    __slots__ = ("key", "user_id")

    def __init__(self, key, user_id):
        self.key = key
        self.user_id = user_id


def metadata_text(name, raw):
    """A code's `metadata` as stored: compact JSON text of an object (None for an empty one);
    raises InvalidRequest naming `name` for anything else, or over MAX_METADATA_BYTES."""
    if not isinstance(raw, dict):
        raise InvalidRequest(name, "must be a JSON object")
    text = json.dumps(raw, separators=(",", ":"), ensure_ascii=False, sort_keys=True)
    size = len(text.encode("utf-8", "replace"))
    if size > MAX_METADATA_BYTES:
        raise InvalidRequest(
            name, "is %d bytes as JSON; the limit is %d bytes" % (size, MAX_METADATA_BYTES)
        )
    if not _is_text(text):
        raise InvalidRequest(name, "must be valid Unicode text")
    return text if raw else None


def parse_generate(params, settings, now_ms, headers=None):
    """A GenerateRequest; `now_ms` stands for an omitted valid_from when checking valid_until.

    The idempotency key comes from the `Idempotency-Key` header or the `request_id` field.
    """
    values = _fields(params, _GENERATE)
    # Above MAX_CODES_PER_REQUEST a batch is generated asynchronously, up to
    # MAX_CODES_PER_BATCH, where the deployment has the worker (GEN_WORKER).
    limit = settings.max_codes_per_request
    if settings.asynchronous:
        limit = settings.max_codes_per_batch
    try:
        count = _integer(values, "count", 1, limit, required=True)
    except InvalidRequest as exc:
        raw = values.get("count", (None, None))[1]
        if not settings.asynchronous and isinstance(raw, int) and raw > limit:
            exc.message += (
                "; bigger batches are generated asynchronously, which this deployment does not "
                "offer (GEN_WORKER is not set)"
            )
        raise
    valid_from = _time(values, "valid_from", settings.timezone)
    valid_until = _time(values, "valid_until", settings.timezone)
    if valid_until is not None and valid_until <= (now_ms if valid_from is None else valid_from):
        name, _ = values["valid_until"]
        raise InvalidRequest(
            name,
            "must be after %s"
            % ("valid_from" if valid_from is not None else "now (valid_from defaults to now)"),
        )
    max_uses = _integer(values, "max_uses", 1, MAX_USES_LIMIT) or 1
    prefix = ""
    if "prefix" in values:
        name, raw = values["prefix"]
        normalized = codes.normalize_prefix(raw) if isinstance(raw, str) else None
        if normalized is None:
            raise InvalidRequest(
                name,
                "must be 1-%d symbols of 0-9 and A-Z without I, L, O, U" % codes.MAX_PREFIX_LENGTH,
            )
        prefix = normalized
    batch = _batch(values["batch"]) if "batch" in values else None
    metadata = metadata_text(*values["metadata"]) if "metadata" in values else None
    customer = _user(values["customer"]) if "customer" in values else None
    per_user_limit = _integer(values, "per_user_limit", 1, MAX_PER_USER_LIMIT)
    key = None
    header = _header(headers, IDEMPOTENCY_HEADER)
    if header is not None:
        key = _idempotency_key((IDEMPOTENCY_HEADER, header))
    if "request_id" in values:
        given = _idempotency_key(values["request_id"])  # validated even when the header wins
        key = given if key is None else key  # both given: the header counts
    return GenerateRequest(
        count,
        valid_from,
        valid_until,
        max_uses,
        prefix,
        batch,
        metadata=metadata,
        customer=customer,
        per_user_limit=per_user_limit,
        idempotency_key=key,
    )


def parse_redeem(params, path_code=None, literal=False):
    """A RedeemRequest: the code (from the path, or the body on direct invoke) and user_id.

    `literal` (the IMPORTED_CODES setting): input that is no generated code becomes the literal
    key of an imported code (`codes.literal_key`) instead of InvalidCode.
    """
    values = _fields(params, _REDEEM if path_code is None else _REDEEM_BODY)
    key = _code(values, path_code, literal)
    user_id = _user(values["user_id"]) if "user_id" in values else None
    return RedeemRequest(key, user_id)


def parse_lookup(params, path_code=None, literal=False):
    """The stored key for query and delete (`literal` as for parse_redeem)."""
    values = _fields(params, _LOOKUP if path_code is None else _NONE)
    return _code(values, path_code, literal)


def raw_code(params):
    """The code as given in the parameters (under its name or an alias), for the log line;
    None when absent or not a string. Nothing is validated here."""
    if not isinstance(params, dict):
        return None
    canonical, aliases = CODE_FIELD
    for name in (canonical, *aliases):
        value = params.get(name)
        if isinstance(value, str):
            return value
    return None


def _fields(params, spec):
    """{canonical: (name as given, value)}, nulls dropped; unknown or doubled names rejected."""
    if not isinstance(params, dict):
        raise InvalidRequest("body", "must be a JSON object")
    if not isinstance(spec, _Fields):
        spec = _Fields(spec)  # the campaign parsers' specs (admin routes, not the hot path)
    names = spec.names
    values = {}  # type: dict
    seen = {}  # type: dict
    for given, value in params.items():
        canonical = names.get(given)
        if canonical is None:
            raise InvalidRequest(given, _unknown(given, spec.canonical))
        # A null counts as not given, but not as a licence to name a field twice: the answer
        # must not depend on which of the two names comes first in the object.
        if canonical in seen:
            raise InvalidRequest(given, "given twice (as %r and %r)" % (seen[canonical], given))
        seen[canonical] = given
        if value is not None:
            values[canonical] = (given, value)
    return values


def _is_text(value):
    """False for strings UTF-8 cannot carry: lone surrogates from a "\\ud800" escape in JSON."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _unknown(given, known):
    if not known:
        return "unknown field; this operation takes no parameters in the body"
    message = "unknown field; expected %s" % ", ".join(known)
    import difflib  # only on this error path: keeps the handlers' import cost down

    close = difflib.get_close_matches(given, known, n=1)
    return message + ("; did you mean %r?" % close[0] if close else "")


def _integer(values, field, low, high, required=False):
    if field not in values:
        if required:
            raise InvalidRequest(field, "is required")
        return None
    name, raw = values[field]
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise InvalidRequest(name, "must be an integer from %d to %d" % (low, high))
    return raw


def _time(values, field, tz):
    if field not in values:
        return None
    name, raw = values[field]
    try:
        return timefmt.to_ms(raw, tz)
    except ValueError as exc:
        raise InvalidRequest(name, str(exc)) from None


def _code(values, path_code, literal=False):
    if path_code is not None:
        raw = path_code
    elif "code" in values:
        name, raw = values["code"]
        if not isinstance(raw, str):
            raise InvalidRequest(name, "must be a string")
    else:
        raise InvalidRequest("code", "is required")
    key = codes.normalize(raw) if len(raw) <= MAX_CODE_INPUT_LENGTH else None
    if key is None and literal:
        # Not a generated code: perhaps an imported one, looked up exactly as written.
        key = codes.literal_key(raw)
    if key is None:
        raise InvalidCode()
    return key


def _user(item):
    """A user id (user_id, customer): 1-128 characters of valid Unicode."""
    name, raw = item
    if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_USER_ID_LENGTH:
        raise InvalidRequest(name, "must be a string of 1-%d characters" % MAX_USER_ID_LENGTH)
    if not _is_text(raw):  # it is stored: the SDK would fail to encode it
        raise InvalidRequest(name, "must be valid Unicode text")
    return raw


_BATCH = re.compile(api.BATCH_PATTERN.replace("$", "\\Z"))


def _batch(item):
    name, raw = item
    if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_BATCH_LENGTH:
        raise InvalidRequest(name, "must be a string of 1-%d characters" % MAX_BATCH_LENGTH)
    if not _BATCH.match(raw) or not _is_text(raw):
        raise InvalidRequest(name, "must not contain control characters")
    return raw.strip()


def parse_batch_label(raw):
    """A batch label from the path (or a direct invoke's `batch`), as generate takes it."""
    if raw is None:
        raise InvalidRequest("batch", "is required")
    return _batch(("batch", raw))


_IDEMPOTENCY_KEY = re.compile(api.IDEMPOTENCY_KEY_PATTERN.replace("$", "\\Z"))


def _idempotency_key(item):
    name, raw = item
    if not isinstance(raw, str) or not _IDEMPOTENCY_KEY.match(raw):
        raise InvalidRequest(
            name,
            "must be %d-%d letters, digits, - and _ (a UUID fits)"
            % (api.MIN_IDEMPOTENCY_KEY_LENGTH, MAX_IDEMPOTENCY_KEY_LENGTH),
        )
    return raw


def _header(headers, name):
    """A request header's value, case-insensitively; None when absent."""
    lowered = name.lower()
    for key, value in (headers or {}).items():
        if isinstance(key, str) and key.lower() == lowered and isinstance(value, str):
            return value
    return None


def _query_integer(values, field, low, high, default):
    """An integer from a query string ("100") or a JSON body (100)."""
    if field not in values:
        return default
    name, raw = values[field]
    if isinstance(raw, str) and raw.strip().isdigit() and len(raw) <= 12:
        raw = int(raw)
    if isinstance(raw, bool) or not isinstance(raw, int) or not low <= raw <= high:
        raise InvalidRequest(name, "must be an integer from %d to %d" % (low, high))
    return raw


def _cursor_text(values):
    if "cursor" not in values:
        return None
    name, raw = values["cursor"]
    if not isinstance(raw, str) or not 1 <= len(raw) <= api.MAX_CURSOR_LENGTH:
        raise InvalidRequest(name, "is not a cursor this API gave out")
    return raw


class BatchRequest(object):
    """An admin request about a batch: its label, and for listings the page wanted."""

    __slots__ = ("batch", "cursor", "limit", "status")

    def __init__(self, batch, limit=None, cursor=None, status=None):
        self.batch = batch
        self.limit = limit
        self.cursor = cursor  # opaque text, decoded by the service
        self.status = status  # one of CODE_STATUSES, None = all


BATCH_FIELD = ("batch", ())
LIST_FIELDS = tuple((f.name, ()) for f in api.BATCH_CODES.query)


def parse_batch(params, path_batch=None, listing=False):
    """A BatchRequest from the path (or the body on direct invoke) and the query parameters."""
    spec = LIST_FIELDS if listing else ()
    values = _fields(params, spec if path_batch is not None else (BATCH_FIELD, *spec))
    if path_batch is not None:
        batch = _batch(("batch", path_batch))
    elif "batch" in values:
        batch = _batch(values["batch"])
    else:
        raise InvalidRequest("batch", "is required")
    if not listing:
        return BatchRequest(batch)
    limit = _query_integer(values, "limit", 1, PAGE_LIMIT, DEFAULT_PAGE_LIMIT)
    status = None
    if "status" in values:
        name, raw = values["status"]
        status = raw.upper() if isinstance(raw, str) else None
        if status not in CODE_STATUSES:
            raise InvalidRequest(name, "must be one of %s" % ", ".join(CODE_STATUSES))
    return BatchRequest(batch, limit, _cursor_text(values), status)


class RollbackRequest(object):
    __slots__ = ("key", "redemption_id", "user_id")

    def __init__(self, key, user_id, redemption_id):
        self.key = key
        self.user_id = user_id
        self.redemption_id = redemption_id


ROLLBACK_FIELDS = (CODE_FIELD, *_names(api.ROLLBACK))


def parse_rollback(params, path_code=None):
    """Which redemption to roll back: by `user_id` or by `redemption_id` (exactly one)."""
    values = _fields(params, ROLLBACK_FIELDS if path_code is None else ROLLBACK_FIELDS[1:])
    key = _code(values, path_code)
    user_id = _user(values["user_id"]) if "user_id" in values else None
    redemption_id = None
    if "redemption_id" in values:
        name, raw = values["redemption_id"]
        if not isinstance(raw, str) or not 1 <= len(raw) <= 64 or not raw.isalnum():
            raise InvalidRequest(name, "must be a redemption id as redeem returned it")
        redemption_id = raw
    if user_id is None and redemption_id is None:
        raise InvalidRequest("user_id", "give user_id or redemption_id (which redemption)")
    return RollbackRequest(key, user_id, redemption_id)


class PageRequest(object):
    __slots__ = ("cursor", "key", "limit")

    def __init__(self, key, limit, cursor):
        self.key = key
        self.limit = limit
        self.cursor = cursor


PAGE_FIELDS = tuple((f.name, ()) for f in api.REDEMPTIONS.query)


def parse_redemptions(params, path_code=None):
    """The code and the page of its redemptions wanted."""
    values = _fields(params, PAGE_FIELDS if path_code is not None else (CODE_FIELD, *PAGE_FIELDS))
    key = _code(values, path_code)
    limit = _query_integer(values, "limit", 1, REDEMPTIONS_LIMIT, DEFAULT_REDEMPTIONS_LIMIT)
    return PageRequest(key, limit, _cursor_text(values))
