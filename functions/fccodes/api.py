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
OBJECT = "object"  # a JSON object (metadata, figures)
OBJECT_LIST = "object_list"  # a list of JSON objects (a page of codes or redemptions)


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
        "any_of",
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
        errors, action=None, query=(), headers=(), media=(JSON,), other_statuses=(), any_of=(),
    ):  # fmt: skip
        self.action = action
        # Groups of body fields of which at least one must be given (e.g. rollback's user_id or
        # redemption_id): the body is then required.
        self.any_of = tuple(tuple(group) for group in any_of)
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
# Above MAX_CODES_PER_REQUEST a batch is generated asynchronously (the worker below), up to this
# many codes (the MAX_CODES_PER_BATCH setting's default and limit).
MAX_CODES_PER_BATCH = 10000000
MAX_USES = 1000000000
MAX_USER_ID_LENGTH = 128
MAX_BATCH_LENGTH = 64
# A batch label: no control characters, and not only spaces (it is stripped). fccodes.params
# checks the same.
_NOT_CONTROL = "\\x00-\\x1f\\x7f-\\x9f\\u2028\\u2029"  # control characters, line separators
BATCH_PATTERN = "^[^%s]*[^\\s%s][^%s]*$" % (_NOT_CONTROL, _NOT_CONTROL, _NOT_CONTROL)
MAX_METADATA_BYTES = 2048  # metadata as compact JSON, UTF-8
MAX_PER_USER_LIMIT = 1000
MAX_IDEMPOTENCY_KEY_LENGTH = 128
IDEMPOTENCY_HEADER = "Idempotency-Key"
PAGE_LIMIT = 5000  # codes per page of a batch listing
DEFAULT_PAGE_LIMIT = 1000
REDEMPTIONS_LIMIT = 1000
DEFAULT_REDEMPTIONS_LIMIT = 100
MAX_CURSOR_LENGTH = 256  # ours are about 130 characters
CURSOR_PATTERN = "^[A-Za-z0-9_-]+$"  # base64url without padding
# 16-128 letters, digits, - and _ (a UUID fits): long enough that keys made by different clients
# do not meet by chance, plain enough for an HTTP header. fccodes.params checks the same.
MIN_IDEMPOTENCY_KEY_LENGTH = 16
IDEMPOTENCY_KEY_PATTERN = "^[A-Za-z0-9_-]{16,128}$"
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
    "batch": Field(
        "batch",
        STRING,
        "a batch label as generate answered it (percent-encoded in the path)",
        required=True,
        min_length=1,
        max_length=MAX_BATCH_LENGTH,
        pattern=BATCH_PATTERN,
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
        Error("CODE_DISABLED", 409, "the code, or its batch, is disabled"),
        Error(
            "CODE_RESTRICTED", 409, "the batch has a customer and the user_id is not it (or absent)"
        ),
        Error(
            "USER_LIMIT_REACHED",
            409,
            "this user_id has redeemed per_user_limit codes of the batch already",
        ),
        Error("BATCH_NOT_FOUND", 404, "no batch with that label"),
        Error("BATCH_EXISTS", 409, "generate with a batch label that is taken"),
        Error(
            "BATCH_GENERATING",
            409,
            "the batch's generate call still runs (disable, enable, an idempotent retry); "
            "retry later",
        ),
        Error(
            "BATCH_FAILED",
            409,
            "the batch was generated asynchronously and that failed: it has no codes (the "
            "message and GET /batches/{batch} say why)",
        ),
        Error(
            "IDEMPOTENCY_KEY_REUSED",
            409,
            "an idempotency key sent again with other generate parameters",
        ),
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
        Error(
            "WORKER_UNAVAILABLE",
            503,
            "a batch above MAX_CODES_PER_REQUEST could not be started: Function Compute did "
            "not accept the worker's invocation (Retry-After: 1), or cannot be reached from "
            "this deployment (no Retry-After); nothing was stored",
        ),
    )
}
# Every operation can answer these: a failing store, a missing table, and a bug.
ALWAYS = ("STORE_UNAVAILABLE", "TABLE_NOT_FOUND", "INTERNAL")

# --- answers --------------------------------------------------------------------------------------
CODE_STATUS = ("UNUSED", "USED", "EXPIRED", "NOT_YET_VALID", "DISABLED")
BATCH_STATE = ("GENERATING", "ACTIVE", "DISABLED", "FAILED")
GENERATION_STATUS = ("GENERATING", "READY", "FAILED")
_METADATA_OUT = "the batch's metadata as given to generate, null without"
_GENERATION = (
    "a batch generated asynchronously (above MAX_CODES_PER_REQUEST): status (GENERATING, then "
    "READY or FAILED), written (codes stored) of total, chunks_written of chunks, reason (why "
    "it FAILED), finished_at, cleanup_complete (FAILED: whether every code is deleted again); "
    "null for a batch generated in one call"
)
# The batch as its record says: GET /batches/{batch} and the 202 of a big generate.
_BATCH_RECORD = (
    Field("batch", STRING, "the batch label"),
    Field(
        "state",
        STRING,
        "ACTIVE or DISABLED (GENERATING while made; FAILED: a big batch that could not be)",
        enum=BATCH_STATE,
    ),
    Field("count", INTEGER, "codes generated (a big batch: asked for)", minimum=0),
    Field("prefix", STRING, "the prefix in stored form, null without one", nullable=True),
    Field("valid_from", TIME, "first instant the codes can be redeemed", nullable=True),
    Field("valid_until", TIME, "first instant they no longer can; null: never", nullable=True),
    Field("max_uses", INTEGER, "redemptions per code", minimum=1, maximum=MAX_USES),
    Field("metadata", OBJECT, _METADATA_OUT, nullable=True),
    Field("customer", STRING, "the only user_id that may redeem them, or null", nullable=True),
    Field("per_user_limit", INTEGER, "codes of the batch per user_id, or null", nullable=True),
    Field("created_at", TIME, "when the batch was stored", nullable=True),
)
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
        Field("metadata", OBJECT, _METADATA_OUT, nullable=True),
        Field("customer", STRING, "the only user_id that may redeem them, or null", nullable=True),
        Field("per_user_limit", INTEGER, "codes of the batch per user_id, or null", nullable=True),
        Field("replay", BOOLEAN, "true: an idempotent retry got an earlier call's batch"),
    ),
    "Redeemed": (
        Field("code", STRING, _CODE_OUT),
        Field("status", STRING, "USED once uses reaches max_uses", enum=("UNUSED", "USED")),
        Field("replay", BOOLEAN, "true: this user had already redeemed it (no use consumed)"),
        Field("uses", INTEGER, "redemptions so far", minimum=1),
        Field("max_uses", INTEGER, "redemptions allowed", minimum=1, maximum=MAX_USES),
        Field("redeemed_at", TIME, "the last redemption", nullable=True),
        Field(
            "redemption_id",
            STRING,
            "which redemption this was (rollback may name it)",
            nullable=True,
        ),
        Field("metadata", OBJECT, _METADATA_OUT, nullable=True),
    ),
    "CodeInfo": (
        Field("code", STRING, _CODE_OUT),
        Field(
            "status",
            STRING,
            "DISABLED (the code or its batch), else USED, else EXPIRED (now >= valid_until), "
            "else NOT_YET_VALID, else UNUSED",
            enum=CODE_STATUS,
        ),
        Field("batch", STRING, "the batch label", nullable=True),
        Field("valid_from", TIME, "first instant it can be redeemed", nullable=True),
        Field("valid_until", TIME, "first instant it no longer can; null: never", nullable=True),
        Field("max_uses", INTEGER, "redemptions allowed", minimum=1, maximum=MAX_USES),
        Field("uses", INTEGER, "redemptions so far", minimum=0),
        Field("created_at", TIME, "when it was stored", nullable=True),
        Field("redeemed_at", TIME, "the last redemption, null if none", nullable=True),
        Field("metadata", OBJECT, _METADATA_OUT, nullable=True),
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
        Field("metadata", OBJECT, "the metadata given to the import, null without", nullable=True),
    ),
    "Batch": (
        *_BATCH_RECORD,
        Field(
            "figures",
            OBJECT,
            "codes by status (unused, used, expired, not_yet_valid, disabled) and redemptions "
            "(the sum of uses), from the batch index: as fresh as it is; null while a big "
            "batch is GENERATING or after it FAILED",
            nullable=True,
        ),
        Field("generation", OBJECT, _GENERATION, nullable=True),
    ),
    "AsyncBatch": (
        *_BATCH_RECORD,
        Field("generation", OBJECT, _GENERATION),
        Field("replay", BOOLEAN, "true: an idempotent retry got an earlier call's batch"),
    ),
    "CodesPage": (
        Field("batch", STRING, "the batch label"),
        Field("codes", OBJECT_LIST, "the codes of this page, each as GET /codes/{code} shows it"),
        Field("next_cursor", STRING, "the next page's cursor, null on the last", nullable=True),
    ),
    "BatchState": (
        Field("batch", STRING, "the batch label"),
        Field("state", STRING, "the batch's state now", enum=BATCH_STATE),
    ),
    "Redemptions": (
        Field("code", STRING, _CODE_OUT),
        Field(
            "redemptions",
            OBJECT_LIST,
            "who redeemed and when, newest first: user_id (or null), redeemed_at, redemption_id",
        ),
        Field("next_cursor", STRING, "the next page's cursor, null on the last", nullable=True),
    ),
}
RESPONSES["RolledBack"] = RESPONSES["CodeInfo"] + (
    Field("rolled_back", BOOLEAN, "false: there was no such redemption (any more)"),
)

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
    "could be confirmed). Above MAX_CODES_PER_REQUEST (10000) codes the batch is generated "
    "asynchronously: the answer is 202 at once with the batch in state GENERATING; "
    "GET /batches/{batch} shows its progress until it is READY (state ACTIVE) or FAILED (no "
    "code left), and GET /batches/{batch}/codes exports its codes once READY.",
    (
        Field(
            "count",
            INTEGER,
            "how many codes: up to the MAX_CODES_PER_REQUEST setting (10000 by default) they "
            "are generated in the call and returned; above it, up to %d (MAX_CODES_PER_BATCH), "
            "asynchronously (202)" % MAX_CODES_PER_BATCH,
            required=True,
            aliases=("num",),
            minimum=1,
            maximum=MAX_CODES_PER_BATCH,
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
            pattern=BATCH_PATTERN,
        ),
        Field(
            "metadata",
            OBJECT,
            "any JSON object of at most %d bytes as compact JSON; query and redeem return it"
            % MAX_METADATA_BYTES,
        ),
        Field(
            "customer",
            STRING,
            "the only user_id that may redeem the codes (others: CODE_RESTRICTED)",
            min_length=1,
            max_length=MAX_USER_ID_LENGTH,
        ),
        Field(
            "per_user_limit",
            INTEGER,
            "a user_id may redeem at most this many codes of the batch (USER_LIMIT_REACHED)",
            minimum=1,
            maximum=MAX_PER_USER_LIMIT,
        ),
        Field(
            "request_id",
            STRING,
            "an idempotency key (or the %s header): a retry gets the same batch"
            % IDEMPOTENCY_HEADER,
            min_length=MIN_IDEMPOTENCY_KEY_LENGTH,
            max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
        ),
    ),
    201,
    "Generated",
    (
        "INVALID_REQUEST",
        "UNAUTHORIZED",
        "PAYLOAD_TOO_LARGE",
        "BATCH_EXISTS",
        "BATCH_GENERATING",
        "IDEMPOTENCY_KEY_REUSED",
        "WORKER_UNAVAILABLE",
    ),
    headers=(
        Field(
            IDEMPOTENCY_HEADER,
            STRING,
            "an idempotency key: a retry with the same key gets the same batch (200)",
            min_length=MIN_IDEMPOTENCY_KEY_LENGTH,
            max_length=MAX_IDEMPOTENCY_KEY_LENGTH,
            pattern=IDEMPOTENCY_KEY_PATTERN,
        ),
    ),
    other_statuses=(
        (200, "Generated", "an idempotent retry: the batch an earlier call made"),
        (
            202,
            "AsyncBatch",
            "count above MAX_CODES_PER_REQUEST: the batch is being generated asynchronously "
            "(an idempotent retry: its state now)",
        ),
    ),
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
        "CODE_DISABLED",
        "CODE_RESTRICTED",
        "USER_LIMIT_REACHED",
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
    "valid_from, valid_until, max_uses and metadata go in the query string (?valid_until=...), "
    "in the formats of the JSON fields (metadata as its JSON text); a JSON object's own fields "
    "win over the query's." % (MAX_IMPORT_CODES, MAX_IMPORTED_LENGTH, MAX_IMPORT_BYTES),
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
        Field(
            "metadata",
            OBJECT,
            "any JSON object of at most %d bytes as compact JSON; query and redeem return it, "
            "as for generated codes" % MAX_METADATA_BYTES,
        ),
    ),
    200,
    "Imported",
    ("INVALID_REQUEST", "UNAUTHORIZED", "PAYLOAD_TOO_LARGE"),
)

# --- campaigns: batch_code and admin_code serve several routes each ------------------------------
_LIMIT = Field(
    "limit",
    INTEGER,
    "codes per page, 1-%d (default %d)" % (PAGE_LIMIT, DEFAULT_PAGE_LIMIT),
    minimum=1,
    maximum=PAGE_LIMIT,
)
_CURSOR = Field(
    "cursor",
    STRING,
    "next_cursor of the previous page (opaque; one this API did not give out is refused)",
    min_length=1,
    max_length=MAX_CURSOR_LENGTH,
    pattern=CURSOR_PATTERN,
)
_BATCH_ERRORS = ("INVALID_REQUEST", "UNAUTHORIZED", "BATCH_NOT_FOUND", "NOT_FOUND")
_CODE_ERRORS = ("INVALID_REQUEST", "INVALID_CODE", "UNAUTHORIZED", "CODE_NOT_FOUND", "NOT_FOUND")

BATCH_SHOW = Operation(
    "batch_show",
    "batch_code",
    "GET",
    "/batches/{batch}",
    ADMIN,
    "A batch: its parameters, state and figures",
    "The figures count the batch's codes by status and its redemptions, from the batch index "
    "(eventually consistent: a redemption is counted once the index has it).",
    (),
    200,
    "Batch",
    _BATCH_ERRORS,
    action="show",
)
BATCH_CODES = Operation(
    "batch_codes",
    "batch_code",
    "GET",
    "/batches/{batch}/codes",
    ADMIN,
    "The codes of a batch, a page at a time (JSON or CSV)",
    "Walking the cursors lists every code exactly once, also while codes are redeemed. With "
    "Accept: text/csv the page is CSV with a header row and the next cursor is in the "
    "X-Next-Cursor header.",
    (),
    200,
    "CodesPage",
    (*_BATCH_ERRORS, "BATCH_GENERATING", "BATCH_FAILED"),
    action="codes",
    query=(
        _LIMIT,
        _CURSOR,
        Field("status", STRING, "only codes with this status", enum=CODE_STATUS),
    ),
    media=(JSON, CSV),
)
BATCH_DISABLE = Operation(
    "batch_disable",
    "batch_code",
    "POST",
    "/batches/{batch}/disable",
    ADMIN,
    "Disable a whole batch",
    "When this has answered, every redemption of the batch's codes gets CODE_DISABLED. "
    "Idempotent. A request body is ignored.",
    (),
    200,
    "BatchState",
    (*_BATCH_ERRORS, "BATCH_GENERATING", "BATCH_FAILED"),
    action="disable",
)
BATCH_ENABLE = Operation(
    "batch_enable",
    "batch_code",
    "POST",
    "/batches/{batch}/enable",
    ADMIN,
    "Enable a whole batch again",
    "Restores exactly the state before: codes disabled one by one stay disabled. Idempotent. "
    "A request body is ignored.",
    (),
    200,
    "BatchState",
    (*_BATCH_ERRORS, "BATCH_GENERATING", "BATCH_FAILED"),
    action="enable",
)
CODE_DISABLE = Operation(
    "code_disable",
    "admin_code",
    "POST",
    "/codes/{code}/disable",
    ADMIN,
    "Disable one code",
    "Redemptions get CODE_DISABLED until it is enabled again. A request body is ignored.",
    (),
    200,
    "CodeInfo",
    _CODE_ERRORS,
    action="disable",
)
CODE_ENABLE = Operation(
    "code_enable",
    "admin_code",
    "POST",
    "/codes/{code}/enable",
    ADMIN,
    "Enable one code again",
    "Its batch's state is left as it is. A request body is ignored.",
    (),
    200,
    "CodeInfo",
    _CODE_ERRORS,
    action="enable",
)
ROLLBACK = Operation(
    "rollback",
    "admin_code",
    "POST",
    "/codes/{code}/rollback",
    ADMIN,
    "Roll back one redemption of a code",
    "Undoes a user's latest redemption, or the one named (both given: that redemption, if it "
    "is that user's): uses goes down by one and the user may redeem again. Idempotent: "
    "rolled_back is false when there is no such redemption.",
    (
        Field(
            "user_id",
            STRING,
            "whose redemption (give this or redemption_id)",
            min_length=1,
            max_length=MAX_USER_ID_LENGTH,
        ),
        Field(
            "redemption_id",
            STRING,
            "which redemption, as redeem answered it (give this or user_id)",
            min_length=1,
            max_length=64,
        ),
    ),
    200,
    "RolledBack",
    (*_CODE_ERRORS, "PAYLOAD_TOO_LARGE"),
    action="rollback",
    any_of=(("user_id",), ("redemption_id",)),
)
REDEMPTIONS = Operation(
    "redemptions",
    "admin_code",
    "GET",
    "/codes/{code}/redemptions",
    ADMIN,
    "Who redeemed a code and when, newest first",
    "A multi-use code remembers its last 1,000 redemptions. Admin only: the public query never "
    "shows who redeemed.",
    (),
    200,
    "Redemptions",
    _CODE_ERRORS,
    action="redemptions",
    query=(
        Field(
            "limit",
            INTEGER,
            "redemptions per page, 1-%d (default %d)"
            % (REDEMPTIONS_LIMIT, DEFAULT_REDEMPTIONS_LIMIT),
            minimum=1,
            maximum=REDEMPTIONS_LIMIT,
        ),
        _CURSOR,
    ),
)

CAMPAIGN_OPERATIONS = (
    BATCH_CODES,
    BATCH_DISABLE,
    BATCH_ENABLE,
    BATCH_SHOW,
    CODE_DISABLE,
    CODE_ENABLE,
    ROLLBACK,
    REDEMPTIONS,
)
OPERATIONS = (GENERATE, REDEEM, QUERY, DELETE, *CAMPAIGN_OPERATIONS, IMPORT)
BY_NAME = {op.name: op for op in OPERATIONS}
# The FC functions, each once, in the order of their first operation.
FUNCTIONS = tuple(
    f
    for i, f in enumerate(op.function for op in OPERATIONS)
    if f not in [op.function for op in OPERATIONS[:i]]
)


class Worker(object):
    """A function no route serves: FC invokes it asynchronously, for the functions
    `invoked_by` only (their role may invoke it; API Gateway's may not)."""

    __slots__ = ("description", "invoked_by", "max_retries", "name")

    def __init__(self, name, invoked_by, description, max_retries):
        self.name = name
        self.invoked_by = tuple(invoked_by)
        self.description = description
        self.max_retries = max_retries  # FC's MaxAsyncRetryAttempts, as the templates set it


# The worker of big batches (fccodes.asyncgen): gen_code queues a batch's first event, the worker
# fans out and fails batches, batch_code fails a batch found past its deadline.
GEN_WORKER = Worker(
    "gen_chunk",
    ("gen_code", "gen_chunk", "batch_code"),
    "writes one chunk of a big batch, or fans a range of chunks out (asynchronous only)",
    max_retries=3,
)
WORKERS = (GEN_WORKER,)
# Every FC function: the routed ones, then the workers.
ALL_FUNCTIONS = FUNCTIONS + tuple(w.name for w in WORKERS)
