"""Tablestore errors with their exact wire identity.

Each class carries the HTTP status and error code that the real service answers with; the
message is given per instance, in the real service's wording. `api.py` and `app.py` turn any
`OTSError` into a protobuf `Error` body, so the SDK raises `OTSServiceError` with the same
`get_http_status()`, `get_error_code()` and `get_error_message()` as against the real service.
"""

from __future__ import annotations


class OTSError(Exception):
    """Base class: an error answered to the client as a Tablestore `Error` message."""

    http_status = 500
    code = "OTSInternalServerError"
    default_message = "Internal server error."

    def __init__(self, message: str | None = None) -> None:
        self.message = self.default_message if message is None else message
        super().__init__(self.message)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.http_status}, {self.code!r}, {self.message!r})"


class ParameterInvalid(OTSError):
    """400: the request is malformed or breaks a limit."""

    http_status = 400
    code = "OTSParameterInvalid"
    default_message = "Invalid parameter."


class InvalidPK(OTSError):
    """400: the primary key does not match the table's schema."""

    http_status = 400
    code = "OTSInvalidPK"
    default_message = "Primary key schema mismatch."


class AuthFailed(OTSError):
    """403: signature, key, instance, date or body checksum rejected (never signed back)."""

    http_status = 403
    code = "OTSAuthFailed"
    default_message = "Signature mismatch."


class ConditionCheckFail(OTSError):
    """403: the row existence or column condition of a write does not hold."""

    http_status = 403
    code = "OTSConditionCheckFail"
    default_message = "Condition check failed."


class QuotaExhausted(OTSError):
    """403: too many tables in the instance."""

    http_status = 403
    code = "OTSQuotaExhausted"
    default_message = "Number of tables exceeded the quota."


class ObjectNotExist(OTSError):
    """404: the table does not exist."""

    http_status = 404
    code = "OTSObjectNotExist"
    default_message = "Requested table does not exist."


class MethodNotAllowed(OTSError):
    """405: only POST is accepted on API paths."""

    http_status = 405
    code = "OTSMethodNotAllowed"
    # Sic: the real service glues the code to the sentence.
    default_message = "OTSMethodNotAllowedOnly POST method for requests is supported."


class ObjectAlreadyExist(OTSError):
    """409: CreateTable on an existing table."""

    http_status = 409
    code = "OTSObjectAlreadyExist"
    default_message = "Requested table already exists."


class RequestBodyTooLarge(OTSError):
    """413: the HTTP body is over the 5 MB limit."""

    http_status = 413
    code = "OTSRequestBodyTooLarge"
    default_message = "The size of POST data is too large."


class InternalServerError(OTSError):
    """500: a bug in ots_local; the server logs the traceback."""


class ServerBusy(OTSError):
    """503: transient overload (only ever answered when a fault is injected)."""

    http_status = 503
    code = "OTSServerBusy"
    default_message = "Server is busy."


class OperationTimeout(OTSError):
    """503: the operation timed out (only ever answered when a fault is injected)."""

    http_status = 503
    code = "OTSTimeout"
    default_message = "Operation timeout."
