"""The Tablestore schema the functions rely on, from schema.json beside this module.

The functions only read and write rows; whoever creates the tables (`make run`, the tests,
`python -m tools.codes setup` for a deployment) builds them from the same schema.json
(`harness.tables`), so there is one description of it. docs/functions.md ("Data") explains
every choice and its cost.

The codes table has one row per code (the product contract) plus predefined columns for its
global index `<table>_by_batch`. Every code row carries `bshard` = `<batch>#<shard>`, the shard
a hash of the code mod SHARDS: the index, keyed by `bshard` (then `code`, which Tablestore
appends), holds the codes of one batch in SHARDS partition keys rather than one, and a listing
reads them shard after shard.

The batches table has two STRING key columns. `pk` is the partition key: `b:<batch>` for a
batch (its record and the lists of its keys), `i:<hash>` for an idempotency key,
`u:<user tag>:<batch>` for a user's per-user-limit slots in a batch (spread over partitions by
the user's hash, so a popular batch is no hot partition).
"""

import json
import os
import zlib

with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "schema.json")) as _f:
    SCHEMA = json.load(_f)

SHARDS = SCHEMA["shards"]
INDEX_SUFFIX = SCHEMA["codes"]["index"]["suffix"]
# What a listing shows and the figures count: the index's attribute columns.
INDEX_COLUMNS = tuple(SCHEMA["codes"]["index"]["columns"])


def index_name(codes_table):
    """The batch index of a codes table: `codes` -> `codes_by_batch`."""
    return codes_table + INDEX_SUFFIX


def shard_of(key):
    """The shard (0..SHARDS-1) of a normalized code: stable, and even over random codes."""
    return zlib.crc32(key.encode("ascii")) % SHARDS


def bshard(batch, shard):
    return "%s#%02d" % (batch, shard)
