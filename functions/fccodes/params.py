"""Operation parameters: validated here, before anything reaches the store.

Each `parse_*` takes the decoded JSON object (and the code from the URL path, if any) and returns
a request object, or raises `InvalidRequest` naming the field as the caller spelled it, or
`InvalidCode`. Unknown fields are rejected (a typo such as `"cuont"` must not silently generate
one code); the original tutorial's names (`num`, `"start period"`, `"end period"`, `uuid`) are
accepted as aliases.
"""

from . import api, codes, timefmt
from .errors import InvalidCode, InvalidRequest

# Limits and field names come from the API's declaration (fccodes.api).
MAX_USES_LIMIT = api.GENERATE.field("max_uses").maximum
MAX_USER_ID_LENGTH = api.REDEEM.field("user_id").max_length
MAX_BATCH_LENGTH = api.GENERATE.field("batch").max_length
MAX_CODE_INPUT_LENGTH = api.MAX_CODE_INPUT_LENGTH


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
    __slots__ = ("batch", "count", "max_uses", "prefix", "valid_from", "valid_until")

    def __init__(self, count, valid_from, valid_until, max_uses, prefix, batch):
        self.count = count
        self.valid_from = valid_from  # epoch ms, None = now
        self.valid_until = valid_until  # epoch ms, None = never expires
        self.max_uses = max_uses
        self.prefix = prefix  # "" = none
        self.batch = batch  # None = generate one


class RedeemRequest(object):
    __slots__ = ("key", "user_id")

    def __init__(self, key, user_id):
        self.key = key
        self.user_id = user_id


def parse_generate(params, settings, now_ms):
    """A GenerateRequest; `now_ms` stands for an omitted valid_from when checking valid_until."""
    values = _fields(params, _GENERATE)
    count = _integer(values, "count", 1, settings.max_codes_per_request, required=True)
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
    batch = None
    if "batch" in values:
        name, raw = values["batch"]
        if not isinstance(raw, str) or not raw.strip() or len(raw) > MAX_BATCH_LENGTH:
            raise InvalidRequest(name, "must be a string of 1-%d characters" % MAX_BATCH_LENGTH)
        if not raw.isprintable():
            raise InvalidRequest(name, "must not contain control characters")
        batch = raw.strip()
    return GenerateRequest(count, valid_from, valid_until, max_uses, prefix, batch)


def parse_redeem(params, path_code=None, literal=False):
    """A RedeemRequest: the code (from the path, or the body on direct invoke) and user_id.

    `literal` (the IMPORTED_CODES setting): input that is no generated code becomes the literal
    key of an imported code (`codes.literal_key`) instead of InvalidCode.
    """
    values = _fields(params, _REDEEM if path_code is None else _REDEEM_BODY)
    key = _code(values, path_code, literal)
    user_id = None
    if "user_id" in values:
        name, raw = values["user_id"]
        if not isinstance(raw, str) or not 1 <= len(raw) <= MAX_USER_ID_LENGTH:
            raise InvalidRequest(name, "must be a string of 1-%d characters" % MAX_USER_ID_LENGTH)
        if not _is_text(raw):  # it is stored: the SDK would fail to encode it
            raise InvalidRequest(name, "must be valid Unicode text")
        user_id = raw
    return RedeemRequest(key, user_id)


def parse_lookup(params, path_code=None, literal=False):
    """The stored key for query and delete (`literal` as for parse_redeem)."""
    values = _fields(params, _LOOKUP if path_code is None else _NONE)
    return _code(values, path_code, literal)


def parse_batch_label(raw):
    """A batch label from the path (or a direct invoke's `batch`): 1-64 printable characters."""
    if not isinstance(raw, str) or not 1 <= len(raw) <= api.MAX_BATCH_LENGTH:
        raise InvalidRequest(
            "batch", "must be a string of 1-%d printable characters" % api.MAX_BATCH_LENGTH
        )
    if not raw.isprintable():
        raise InvalidRequest("batch", "must be printable characters")
    return raw


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
