"""What FC hands a Python handler besides the event: the context, as far as we use it."""


class Attributes(object):
    """An object with the given attributes (FC passes attribute objects, not dicts)."""

    def __init__(self, **values):
        self.__dict__.update(values)


class FCContext(object):
    """The `context` argument of an FC handler: request id, credentials, function metadata."""

    def __init__(self, request_id="req-1", credentials=None, timeout=30, name="fn"):
        self.request_id = request_id
        self.credentials = credentials
        self.function = Attributes(name=name, handler="index.handler", memory=512, timeout=timeout)
        self.service = Attributes(name="fc-codes")
        self.region = "cn-hangzhou"
        self.account_id = "1234567890"


def server_credentials(server):
    """`context.credentials` for a server handle (harness.ots_server.OTSServer): its key pair."""
    return Attributes(
        access_key_id=server.access_key_id,
        access_key_secret=server.access_key_secret,
        security_token="",
    )
