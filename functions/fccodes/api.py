"""The HTTP API, declared once: every operation's route, auth, parameters, answers and errors.

Plain data, cheap to import (it imports only `codes`, which every handler loads anyway), Python
3.6. Everything else derives from it or is checked against it:

- `fccodes.app` routes each handler by its operation's method and path;
- `fccodes.params` takes the body fields' names, aliases and limits from here;
- `tools/checks.py` checks template.yml's and s.yaml's routes, functions and auth against it;
- `localdev` serves template.yml's routes (checked above); `make run` notes any route that
  docs/openapi.json does not describe, and tests/api compares the two;
- `tools/openapi.py` turns it into docs/openapi.json (`make openapi`), with examples recorded
  from the real handlers;
- the smoke test, the bench and the tests name operations and functions through it.

To add a route: declare an `Operation` below (its fields, its answer, its errors), add it to
OPERATIONS, give it a handler, route it in template.yml and s.yaml, record its answers in
tools/openapi.py's walk, then run `make openapi` and the tests: each place that still disagrees
fails a test that names it (docs/openapi.md).
"""

from .codes import MAX_KEY_LENGTH, MAX_LITERAL_LENGTH, MAX_PREFIX_LENGTH, MIN_KEY_LENGTH

JSON = "application/json"
CSV = "text/csv"

ADMIN = "admin"  # API Gateway APP auth: signed or an AppCode; locally the app key
PUBLIC = "public"  # anonymous

# Types of a field: JSON types, plus TIME (an input time: RFC 3339, the tutorial's
# "YYYY-MM-DD HH:MM:SS" or epoch seconds; out: RFC 3339 or null).
INTEGER = "integer"
STRING = "string"
BOOLEAN = "boolean"
TIME = "time"
STRING_LIST = "string_list"


class Field(object):
    """One named value of a request body or an answer."""

    __slots__ = (
        "aliases",
        "description",
        "enum",
        "max_length",
        "maximum",
        "min_length",
        "minimum",
        "name",
        "nullable",
        "pattern",
        "required",
        "type",
    )

    def __init__(
        self,
        name,
        type,
        description,
        required=False,
        aliases=(),
        minimum=None,
        maximum=None,
        min_length=None,
        max_length=None,
        pattern=None,
        enum=None,
        nullable=False,
    ):
        self.name = name
        self.type = type
        self.description = description
        self.required = required
        self.aliases = tuple(aliases)  # the original tutorial's names, accepted in requests
        self.minimum = minimum
        self.maximum = maximum
        self.min_length = min_length
        self.max_length = max_length
        self.pattern = pattern
        self.enum = enum
        self.nullable = nullable


class Error(object):
    """An error code a caller may get, its HTTP status and when."""

    __slots__ = ("code", "status", "when")

    def __init__(self, code, status, when):
        self.code = code
        self.status = status
        self.when = when


class Operation(object):
    """One route: `method path` served by FC function `function` (a function may serve several:
    a direct invoke then names one by `action`)."""

    __slots__ = (
        "action",
        "auth",
        "body",
        "description",
        "errors",
        "function",
        "headers",
        "media",
        "method",
        "name",
        "other_statuses",
        "path",
        "query",
        "response",
        "status",
        "summary",
    )

    def __init__(
        self, name, function, method, path, auth, summary, description, body, status, response,
        errors, action=None, query=(), headers=(), media=(JSON,), other_statuses=(),
    ):  # fmt: skip
        self.action = action
        self.query = tuple(query)  # Fields of the query string
        self.headers = tuple(headers)  # Fields of request headers (e.g. an idempotency key)
        self.media = tuple(media)  # what the answer can be, by Accept: JSON first
        # Other successes: (status, the name of the answer's shape in RESPONSES, when).
        self.other_statuses = tuple(other_statuses)
        self.name = name
        self.function = function
        self.method = method
        self.path = path  # OpenAPI style: /codes/{code}
        self.auth = auth
        self.summary = summary
        self.description = description
        self.body = tuple(body)  # Fields of the JSON body; () = the body is ignored
        self.status = status  # of a success
        self.response = response  # the name of the answer's shape in RESPONSES
        self.errors = tuple(errors)  # error codes (keys of ERRORS) this operation can answer

    @property
    def path_parameters(self):
        return tuple(s[1:-1] for s in self.path.split("/") if s.startswith("{"))

    @property
    def gateway_path(self):
        """The path as API Gateway writes it: /codes/[code]."""
        return self.path.replace("{", "[").replace("}", "]")

    def field(self, name):
        for f in self.body:
            if f.name == name:
                return f
        raise KeyError(name)


# --- limits (fccodes.params enforces them) ------------------------------------------------------
MAX_CODES_PER_REQUEST = 10000  # the default of the MAX_CODES_PER_REQUEST setting
MAX_USES = 1000000000
MAX_USER_ID_LENGTH = 128
MAX_BATCH_LENGTH = 64
# 1-8 symbols (no I, L, O, U), either case, with separators (spaces, - and _) anywhere.
PREFIX_PATTERN = "^[\\s_-]*(?:[0-9A-HJKMNP-TV-Za-hjkmnp-tv-z][\\s_-]*){1,%d}$" % MAX_PREFIX_LENGTH

MAX_CODE_INPUT_LENGTH = 64  # generous for separators; longer input cannot be a code
# What a code may look like as typed: 11-31 symbols of the alphabet or a look-alike (O, I, L),
# either case, with separators anywhere. Whether its check symbol is right no pattern can say.
CODE_PATTERN = "^[\\s_-]*(?:[0-9A-TV-Za-tv-z][\\s_-]*){%d,%d}$" % (MIN_KEY_LENGTH, MAX_KEY_LENGTH)

# With IMPORTED_CODES on (the default), an imported code as written too: printable ASCII.
ANY_CODE_PATTERN = "(?:%s)|(?:^[ -~]{1,%d}$)" % (CODE_PATTERN, MAX_LITERAL_LENGTH)

# An input time as a string (a number is epoch seconds): RFC 3339 or the tutorial's
# "YYYY-MM-DD HH:MM:SS" (then in CODE_TIMEZONE). A date that does not exist is still refused.
TIME_PATTERN = (
    "^\\s*[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?"
    "\\s*([Zz]|[+-][0-9]{2}:?[0-9]{2})?\\s*$"
)

# Path parameters, by the name in braces.
PATH_PARAMETERS = {
    "batch": Field(
        "batch",
        STRING,
        "the batch label, 1-%d printable characters" % MAX_BATCH_LENGTH,
        required=True,
        min_length=1,
        max_length=MAX_BATCH_LENGTH,
    ),
    "code": Field(
        "code",
        STRING,
        "a generated code (case, spaces, - and _ do not matter; O reads as 0, I and L as 1), or "
        "an imported one exactly as written (1-64 printable ASCII characters); anything else, "
        "or an imported code that does not exist, is INVALID_CODE",
        required=True,
        min_length=1,
        max_length=MAX_CODE_INPUT_LENGTH,
        pattern=ANY_CODE_PATTERN,
    ),
}

# --- errors ---------------------------------------------------------------------------------------
ERRORS = {
    e.code: e
    for e in (
        Error(
            "INVALID_REQUEST",
            400,
            "malformed JSON, not an object, wrong types, out-of-range values, bad times, "
            "valid_until not after valid_from, unknown fields, a field given twice",
        ),
        Error(
            "INVALID_CODE",
            400,
            "the code has foreign symbols, a wrong length or a wrong check symbol "
            "(the store is not asked)",
        ),
        Error("UNAUTHORIZED", 401, "an admin route without a valid app key (API Gateway)"),
        Error("CODE_NOT_FOUND", 404, "no such code"),
        Error(
            "NOT_FOUND",
            404,
            "no route for this method and path (API Gateway), e.g. an empty {code} segment",
        ),
        Error("METHOD_NOT_ALLOWED", 405, "a method the path does not serve; `Allow` names them"),
        Error("CODE_ALREADY_USED", 409, "used up (single-use: redeemed; multi-use: all uses)"),
        Error("CODE_EXPIRED", 409, "now >= valid_until"),
        Error("CODE_NOT_YET_VALID", 409, "now < valid_from"),
        Error("PAYLOAD_TOO_LARGE", 413, "request body over 64 KiB"),
        Error("INTERNAL", 500, "anything unexpected: the log has the traceback, the body nothing"),
        Error(
            "TABLE_NOT_FOUND",
            500,
            "the configured CODES_TABLE does not exist: the operator's configuration error; "
            "not retryable, nothing was written",
        ),
        Error(
            "STORE_UNAVAILABLE",
            503,
            "Tablestore unreachable or failing after retries; Retry-After: 1; retryable",
        ),
    )
}
# Every operation can answer these: a failing store, a missing table, and a bug.
ALWAYS = ("STORE_UNAVAILABLE", "TABLE_NOT_FOUND", "INTERNAL")

# --- answers --------------------------------------------------------------------------------------
CODE_STATUS = ("UNUSED", "USED", "EXPIRED", "NOT_YET_VALID")
_CODE_OUT = "the code in display form: groups of 4, the prefix as its own group"

RESPONSES = {
    "Generated": (
        Field("batch", STRING, "the batch label, given or generated"),
        Field("count", INTEGER, "how many codes were stored", minimum=1),
        Field("codes", STRING_LIST, "the codes, in display form"),
        Field("prefix", STRING, "the prefix in stored form, null without one", nullable=True),
        Field("valid_from", TIME, "first instant the codes can be redeemed", nullable=True),
        Field("valid_until", TIME, "first instant they no longer can; null: never", nullable=True),
        Field("max_uses", INTEGER, "redemptions per code", minimum=1, maximum=MAX_USES),
        Field("created_at", TIME, "when the batch was stored", nullable=True),
    ),
    "Redeemed": (
        Field("code", STRING, _CODE_OUT),
        Field("status", STRING, "USED once uses reaches max_uses", enum=("UNUSED", "USED")),
        Field("replay", BOOLEAN, "true: this user had already redeemed it (no use consumed)"),
        Field("uses", INTEGER, "redemptions so far", minimum=1),
        Field("max_uses", INTEGER, "redemptions allowed", minimum=1, maximum=MAX_USES),
        Field("redeemed_at", TIME, "the last redemption", nullable=True),
    ),
    "CodeInfo": (
        Field("code", STRING, _CODE_OUT),
        Field(
            "status",
            STRING,
            "USED, else EXPIRED (now >= valid_until), else NOT_YET_VALID, else UNUSED",
            enum=CODE_STATUS,
        ),
        Field("batch", STRING, "the batch label", nullable=True),
        Field("valid_from", TIME, "first instant it can be redeemed", nullable=True),
        Field("valid_until", TIME, "first instant it no longer can; null: never", nullable=True),
        Field("max_uses", INTEGER, "redemptions allowed", minimum=1, maximum=MAX_USES),
        Field("uses", INTEGER, "redemptions so far", minimum=0),
        Field("created_at", TIME, "when it was stored", nullable=True),
        Field("redeemed_at", TIME, "the last redemption, null if none", nullable=True),
    ),
    "Deleted": (
        Field("code", STRING, _CODE_OUT),
        Field("deleted", BOOLEAN, "always true: deleting is idempotent", enum=(True,)),
    ),
    "Imported": (
        Field("batch", STRING, "the batch the codes were imported into"),
        Field("received", INTEGER, "codes in the list", minimum=1),
        Field("stored", INTEGER, "codes stored by this call", minimum=0),
        Field(
            "already_imported",
            INTEGER,
            "codes this batch had imported before (the same list sent again)",
            minimum=0,
        ),
        Field("repeated", INTEGER, "codes that repeat an earlier line of the list", minimum=0),
        Field("existing", INTEGER, "codes that exist already (not overwritten)", minimum=0),
        Field(
            "notes",
            STRING_LIST,
            "the first %d repeats and existing codes, each naming its line" % 100,
        ),
        Field("valid_from", TIME, "first instant the codes can be redeemed", nullable=True),
        Field("valid_until", TIME, "first instant they no longer can; null: never", nullable=True),
        Field("max_uses", INTEGER, "redemptions per code", minimum=1, maximum=MAX_USES),
    ),
}

# --- operations -----------------------------------------------------------------------------------
GENERATE = Operation(
    "generate",
    "gen_code",
    "POST",
    "/codes",
    ADMIN,
    "Generate a batch of codes",
    "All or nothing: either every code is stored and returned, or the answer is "
    "STORE_UNAVAILABLE and no row of the call remains (`cleanup_complete` says whether that "
    "could be confirmed).",
    (
        Field(
            "count",
            INTEGER,
            "how many codes (at most the MAX_CODES_PER_REQUEST setting, 10000 by default)",
            required=True,
            aliases=("num",),
            minimum=1,
            maximum=MAX_CODES_PER_REQUEST,
        ),
        Field(
            "valid_from",
            TIME,
            "first instant the codes can be redeemed (default: now)",
            aliases=("start period",),
        ),
        Field(
            "valid_until",
            TIME,
            "first instant they no longer can (default: never); must be after valid_from",
            aliases=("end period",),
        ),
        Field("max_uses", INTEGER, "redemptions per code (default 1)", minimum=1, maximum=MAX_USES),
        Field(
            "prefix",
            STRING,
            "1-%d symbols of 0-9 and A-Z without I, L, O, U, case-insensitive, "
            "separators ignored" % MAX_PREFIX_LENGTH,
            pattern=PREFIX_PATTERN,
        ),
        Field(
            "batch",
            STRING,
            "a label for the batch, 1-%d printable characters (default: generated, like "
            "20261129T031914Z-7K3M)" % MAX_BATCH_LENGTH,
            min_length=1,
            max_length=MAX_BATCH_LENGTH,
        ),
    ),
    201,
    "Generated",
    ("INVALID_REQUEST", "UNAUTHORIZED", "PAYLOAD_TOO_LARGE"),
)

REDEEM = Operation(
    "redeem",
    "use_code",
    "POST",
    "/codes/{code}/redeem",
    PUBLIC,
    "Redeem a code",
    "The same user_id redeeming the same code again gets the same success with replay: true "
    "(a client retrying after a lost answer must not be told the code is used); another user "
    "gets CODE_ALREADY_USED. The body is optional.",
    (
        Field(
            "user_id",
            STRING,
            "who redeems, 1-%d characters" % MAX_USER_ID_LENGTH,
            min_length=1,
            max_length=MAX_USER_ID_LENGTH,
        ),
    ),
    200,
    "Redeemed",
    (
        "INVALID_REQUEST",
        "INVALID_CODE",
        "CODE_NOT_FOUND",
        "CODE_ALREADY_USED",
        "CODE_EXPIRED",
        "CODE_NOT_YET_VALID",
        "PAYLOAD_TOO_LARGE",
        "NOT_FOUND",
    ),
)

QUERY = Operation(
    "query",
    "query_code",
    "GET",
    "/codes/{code}",
    PUBLIC,
    "Check a code",
    "Public: never shows who redeemed it. A request body is ignored.",
    (),
    200,
    "CodeInfo",
    ("INVALID_CODE", "CODE_NOT_FOUND", "NOT_FOUND"),
)

DELETE = Operation(
    "delete",
    "del_code",
    "DELETE",
    "/codes/{code}",
    ADMIN,
    "Delete a code",
    "Idempotent: the same answer whether or not the code existed. A request body is ignored.",
    (),
    200,
    "Deleted",
    ("INVALID_CODE", "UNAUTHORIZED", "NOT_FOUND"),
)

MAX_IMPORT_CODES = 100000  # fccodes.importing enforces these
MAX_IMPORTED_LENGTH = MAX_LITERAL_LENGTH
IMPORTED_PATTERN = "^[ -~]{1,%d}$" % MAX_IMPORTED_LENGTH  # printable ASCII (codes.literal_key)
MAX_IMPORT_BYTES = 4 * 1024 * 1024

IMPORT = Operation(
    "import",
    "import_code",
    "POST",
    "/batches/{batch}/import",
    ADMIN,
    "Import existing codes into a batch",
    "A CSV file (Content-Type: text/csv; one code per line, an optional header line `code`) or "
    "JSON (a list of codes, or an object with `codes` and the fields below) of up to %d codes "
    "issued elsewhere, in any format of 1-%d printable ASCII characters. They are stored as "
    "written "
    "(case-sensitive, no check symbol) and redeem exactly so. Nothing is stored unless every "
    "line is well-formed (INVALID_REQUEST names the first bad one); repeats within the list and "
    "codes that already exist are counted and listed, never overwritten; sending the same list "
    "to the same batch again stores nothing twice. The body may be up to %d bytes. A CSV file's "
    "valid_from, valid_until and max_uses go in the query string (?valid_until=...), in the "
    "formats of the JSON fields; a JSON object's own fields win over the query's."
    % (MAX_IMPORT_CODES, MAX_IMPORTED_LENGTH, MAX_IMPORT_BYTES),
    (
        Field(
            "codes",
            STRING_LIST,
            "the codes, each 1-%d printable ASCII characters (space to ~)" % MAX_IMPORTED_LENGTH,
            required=True,
            minimum=1,
            maximum=MAX_IMPORT_CODES,
            min_length=1,
            max_length=MAX_IMPORTED_LENGTH,
            pattern=IMPORTED_PATTERN,
        ),
        Field("valid_from", TIME, "first instant the codes can be redeemed (default: now)"),
        Field(
            "valid_until",
            TIME,
            "first instant they no longer can (default: never); must be after valid_from",
        ),
        Field("max_uses", INTEGER, "redemptions per code (default 1)", minimum=1, maximum=MAX_USES),
    ),
    200,
    "Imported",
    ("INVALID_REQUEST", "UNAUTHORIZED", "PAYLOAD_TOO_LARGE"),
)

OPERATIONS = (GENERATE, REDEEM, QUERY, DELETE, IMPORT)
BY_NAME = {op.name: op for op in OPERATIONS}
# The FC functions, each once, in the order of their first operation.
FUNCTIONS = tuple(
    f
    for i, f in enumerate(op.function for op in OPERATIONS)
    if f not in [op.function for op in OPERATIONS[:i]]
)
