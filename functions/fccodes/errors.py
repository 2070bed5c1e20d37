"""The closed set of errors the service answers with, each carrying its code, HTTP status and
extra response headers.

`fccodes.events.render_error` is the one place that turns them into responses. Anything that is
not a `ServiceError` becomes `INTERNAL` there (logged with its traceback, body says nothing).
"""


class ServiceError(Exception):
    """Base of every error a caller may see: `code` (machine-readable), `status`, message."""

    code = "INTERNAL"
    status = 500
    default_message = "internal error"

    def __init__(self, message=None):
        self.message = message or self.default_message
        super(ServiceError, self).__init__(self.message)

    def details(self):
        """Extra machine-readable fields for the error body (none by default)."""
        return {}

    def headers(self):
        """Extra HTTP response headers (none by default)."""
        return {}


class InvalidRequest(ServiceError):
    """Malformed JSON, wrong types or out-of-range values; `field` names the culprit."""

    code = "INVALID_REQUEST"
    status = 400

    def __init__(self, field, message):
        self.field = field
        super(InvalidRequest, self).__init__("%s: %s" % (field, message) if field else message)


class InvalidCode(ServiceError):
    code = "INVALID_CODE"
    status = 400
    default_message = (
        "code is not a valid code (wrong symbols, length or check symbol); check for typos"
    )


class CodeNotFound(ServiceError):
    code = "CODE_NOT_FOUND"
    status = 404
    default_message = "no such code"


class CodeAlreadyUsed(ServiceError):
    code = "CODE_ALREADY_USED"
    status = 409
    default_message = "code has already been used"


class CodeExpired(ServiceError):
    code = "CODE_EXPIRED"
    status = 409
    default_message = "code has expired"


class CodeNotYetValid(ServiceError):
    code = "CODE_NOT_YET_VALID"
    status = 409
    default_message = "code is not valid yet"


class MethodNotAllowed(ServiceError):
    code = "METHOD_NOT_ALLOWED"
    status = 405

    def __init__(self, method, allowed):
        self.allowed = allowed
        super(MethodNotAllowed, self).__init__(
            "method %s is not allowed here; use %s" % (method, allowed)
        )

    def headers(self):
        return {"Allow": self.allowed}


class PayloadTooLarge(ServiceError):
    code = "PAYLOAD_TOO_LARGE"
    status = 413

    def __init__(self, size, limit, what="request body"):
        super(PayloadTooLarge, self).__init__(
            "%s is %d bytes; the limit is %d bytes" % (what, size, limit)
        )


class StoreUnavailable(ServiceError):
    """Tablestore unreachable or failing after retries (retryable by the caller).

    `maybe_applied` tells the service whether the failed write may nevertheless have been applied
    (the connection dropped after sending it, a timeout, a 5xx); `reason` is the store's own error
    code for the log. `cleanup_complete` is set on a failed generate: whether every row the call
    wrote was removed again.
    """

    code = "STORE_UNAVAILABLE"
    status = 503
    default_message = "the code store is unavailable; retry later"

    def __init__(self, message=None, reason=None, maybe_applied=False, retryable=True):
        super(StoreUnavailable, self).__init__(message)
        self.reason = reason
        self.maybe_applied = maybe_applied
        self.retryable = retryable
        self.cleanup_complete = None

    def details(self):
        if self.cleanup_complete is None:
            return {}
        return {"cleanup_complete": self.cleanup_complete}

    def headers(self):
        return {"Retry-After": "1"}  # a short pause is enough for what retrying can fix


class TableNotFound(StoreUnavailable):
    """The configured table does not exist: the operator's configuration error, not a passing
    fault. Not retryable (no Retry-After), and no row can have been written or left behind."""

    code = "TABLE_NOT_FOUND"
    status = 500

    def __init__(self, table, reason=None, what="code table", setting="CODES_TABLE"):
        super(TableNotFound, self).__init__(
            "the %s %r does not exist in the Tablestore instance: create it "
            "(make deploy does) or correct the %s setting" % (what, table, setting),
            reason=reason,
            retryable=False,
        )

    def headers(self):
        return {}


class ConfigurationError(Exception):
    """A bad environment setting: raised by the initializer with a message naming it."""


class CodeDisabled(ServiceError):
    code = "CODE_DISABLED"
    status = 409
    default_message = "code has been disabled"


class CodeRestricted(ServiceError):
    code = "CODE_RESTRICTED"
    status = 409
    default_message = "code is reserved for another user"


class UserLimitReached(ServiceError):
    code = "USER_LIMIT_REACHED"
    status = 409
    default_message = "this user_id has redeemed as many codes of this batch as it may"


class BatchNotFound(ServiceError):
    code = "BATCH_NOT_FOUND"
    status = 404
    default_message = "no such batch"


class BatchExists(ServiceError):
    code = "BATCH_EXISTS"
    status = 409
    default_message = "a batch with this label exists already; choose another batch label"


class BatchBusy(ServiceError):
    """The batch is still being generated (or its generate call died): retry later."""

    code = "BATCH_GENERATING"
    status = 409
    default_message = "the batch is still being generated; retry later"


class BatchFailed(ServiceError):
    """An asynchronous batch whose generation failed: it has no codes (docs/functions.md)."""

    code = "BATCH_FAILED"
    status = 409
    default_message = "the batch could not be generated: it has no codes; generate a new one"

    def __init__(self, reason=None):
        super(BatchFailed, self).__init__(
            "%s (%s)" % (self.default_message, reason) if reason else None
        )


class IdempotencyKeyReused(ServiceError):
    code = "IDEMPOTENCY_KEY_REUSED"
    status = 409
    default_message = (
        "this idempotency key was used for a generate call with other parameters; "
        "use a new key for a new batch"
    )
