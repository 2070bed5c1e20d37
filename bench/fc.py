"""What FC hands a Python handler, as far as fc-codes uses it: a small context object.

Python 3.6 compatible: `bench.worker` runs inside FC's runtimes.
"""


class _Attributes(object):
    def __init__(self, **values):
        self.__dict__.update(values)


class FCContext(object):
    """An FC invocation context with STS-style credentials and the function's timeout (s)."""

    def __init__(self, access_key_id, access_key_secret, timeout=60, request_id="bench"):
        self.request_id = request_id
        self.credentials = _Attributes(
            access_key_id=access_key_id, access_key_secret=access_key_secret, security_token=""
        )
        self.function = _Attributes(
            name="fc-codes", handler="index.handler", memory=512, timeout=timeout
        )
        self.service = _Attributes(name="fc-codes")
        self.region = "cn-hangzhou"
        self.account_id = "1234567890"
