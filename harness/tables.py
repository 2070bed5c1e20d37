"""An SDK client on a Tablestore endpoint, and the `codes` table: created and scanned.

The schema is the one template.yml declares and `fccodes.store` uses: one STRING primary key
column, `code`.
"""

from tablestore import (
    INF_MAX,
    INF_MIN,
    CapacityUnit,
    Direction,
    OTSClient,
    OTSServiceError,
    ReservedThroughput,
    TableMeta,
    TableOptions,
)
from tablestore.retry import NoRetryPolicy

CODES = "codes"
CODES_KEY = (("code", "STRING"),)


def client(endpoint, access_key_id, access_key_secret, instance, timeout=10, **options):
    """A plain SDK client without SDK-level retries (a failure shows at once)."""
    return OTSClient(
        endpoint,
        access_key_id,
        access_key_secret,
        instance,
        retry_policy=NoRetryPolicy(),
        socket_timeout=timeout,
        **options,
    )


def client_for(server, timeout=10, **options):
    """A client on a server handle (harness.ots_server.OTSServer), with its key pair."""
    return client(
        server.endpoint,
        server.access_key_id,
        server.access_key_secret,
        server.instance,
        timeout,
        **options,
    )


def create(sdk, name=CODES, primary_key=CODES_KEY, exist_ok=False):
    """Create table `name` (no TTL, one version, no reserved throughput); True if created.

    With `exist_ok`, a table that already exists is left as it is (False).
    """
    try:
        sdk.create_table(
            TableMeta(name, [tuple(column) for column in primary_key]),
            TableOptions(time_to_live=-1, max_version=1),
            ReservedThroughput(CapacityUnit(0, 0)),
        )
    except OTSServiceError as exc:
        if exist_ok and exc.get_error_code() == "OTSObjectAlreadyExist":
            return False
        raise
    return True


def recreate(sdk, name=CODES, primary_key=CODES_KEY):
    """An empty table `name`: dropped first if it exists."""
    if name in sdk.list_table():
        sdk.delete_table(name)
    create(sdk, name, primary_key)


def scan(sdk, name=CODES, columns=None, key="code"):
    """{key value: {column: value}} of every row (a full scan: tests and checks only)."""
    found = {}
    start = [(key, INF_MIN)]
    while start is not None:
        _, start, page, _ = sdk.get_range(
            name,
            Direction.FORWARD,
            start,
            [(key, INF_MAX)],
            columns_to_get=None if columns is None else [key, *columns],
            max_version=1,
        )
        for row in page:
            found[row.primary_key[0][1]] = {c[0]: c[1] for c in row.attribute_columns}
    return found
