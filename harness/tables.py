"""An SDK client on a Tablestore endpoint, and the service's tables: created and scanned.

The schema is functions/fccodes/schema.json, which the functions read too (fccodes.schema): the
`codes` table (one STRING primary key column, `code`, predefined columns and the global index
`codes_by_batch`) and the `batches` table. It is read as a file: the harness imports nothing
of ours.
"""

import json
from pathlib import Path

from tablestore import (
    INF_MAX,
    INF_MIN,
    CapacityUnit,
    Direction,
    OTSClient,
    OTSServiceError,
    ReservedThroughput,
    SecondaryIndexMeta,
    SecondaryIndexType,
    TableMeta,
    TableOptions,
)
from tablestore.retry import NoRetryPolicy

SCHEMA_FILE = Path(__file__).resolve().parent.parent / "functions" / "fccodes" / "schema.json"
CODES = "codes"
CODES_KEY = (("code", "STRING"),)
BATCHES = "batches"


def schema():
    """functions/fccodes/schema.json as a dict."""
    return json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))


def index_name(codes=CODES):
    return codes + schema()["codes"]["index"]["suffix"]


def create_declared(sdk, name, primary_key, exist_ok=False):
    """Create a table a template declares (by name and key, as `fun deploy` would), completed
    from schema.json: a table keyed like the codes table also gets the predefined columns and
    the batch index that Funcraft cannot declare. True if created."""
    spec = schema()
    if [list(c) for c in primary_key] != spec["codes"]["primary_key"]:
        return create(sdk, name, primary_key, exist_ok=exist_ok)
    if exist_ok and name in sdk.list_table():
        return False
    create_service_tables(sdk, codes=name, batches=None)
    return True


def create_service_tables(sdk, codes=CODES, batches=BATCHES, index=True, exist_ok=False):
    """Create the codes table (predefined columns, and its batch index when `index`) and the
    batches table, as schema.json describes them. Returns the names of the tables created
    (with `exist_ok`, existing ones are left as they are)."""
    spec = schema()
    existing = set(sdk.list_table()) if exist_ok else set()
    created = []
    if codes not in existing:
        meta = TableMeta(
            codes,
            [tuple(c) for c in spec["codes"]["primary_key"]],
            [tuple(c) for c in spec["codes"]["defined_columns"]],
        )
        indexes = []
        if index:
            indexes.append(
                SecondaryIndexMeta(
                    codes + spec["codes"]["index"]["suffix"],
                    list(spec["codes"]["index"]["primary_key"]),
                    list(spec["codes"]["index"]["columns"]),
                    index_type=SecondaryIndexType.GLOBAL_INDEX,
                )
            )
        sdk.create_table(
            meta,
            TableOptions(time_to_live=-1, max_version=1),
            ReservedThroughput(CapacityUnit(0, 0)),
            secondary_indexes=indexes,
        )
        created.append(codes)
    if batches is not None and batches not in existing:
        create(sdk, batches, spec["batches"]["primary_key"])
        created.append(batches)
    return created


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


def recreate_service_tables(sdk, codes=CODES, batches=BATCHES):
    """Empty service tables: dropped first (the codes table's indexes with it), then created."""
    existing = sdk.list_table()
    if codes in existing:
        for index in sdk.describe_table(codes).secondary_indexes or []:
            sdk.delete_secondary_index(codes, index.index_name)
        sdk.delete_table(codes)
    if batches in existing:
        sdk.delete_table(batches)
    create_service_tables(sdk, codes, batches)


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
