"""The Tablestore schema as plain data: tables, their keys, the codes table's batch index.

The functions only read and write rows; whoever creates the tables (`make run`, the tests,
`python -m tools.codes setup` for a deployment) builds them from these values, so there is one
description of the schema. docs/functions.md ("Data") explains every choice and its cost.
"""

import zlib

# The codes table: one row per code (product contract).
CODES_PK = (("code", "STRING"),)

# The batches table: two STRING key columns. `pk` is the partition key: `b:<batch>` for a
# batch (its record and the lists of its keys), `i:<hash>` for an idempotency key,
# `u:<user tag>:<batch>` for a user's per-user-limit slots in a batch (spread over partitions
# by the user's hash, so a popular batch is no hot partition).
BATCHES_PK = (("pk", "STRING"), ("sk", "STRING"))

# Every code row carries `bshard` = `<batch>#<shard>`, shard = a hash of the code mod SHARDS.
# The global index below is keyed by it (then by `code`, which Tablestore appends): the codes
# of one batch are SHARDS contiguous ranges, in SHARDS partition keys rather than one, and a
# listing reads them shard after shard.
SHARDS = 16
INDEX_SUFFIX = "_by_batch"

# Predefined columns of the codes table (a global index can only hold predefined columns).
DEFINED_COLUMNS = (
    ("bshard", "STRING"),
    ("batch", "STRING"),
    ("state", "STRING"),
    ("valid_from", "INTEGER"),
    ("valid_until", "INTEGER"),
    ("max_uses", "INTEGER"),
    ("uses", "INTEGER"),
    ("created_at", "INTEGER"),
    ("redeemed_at", "INTEGER"),
    ("prefix", "STRING"),
    ("disabled", "INTEGER"),
    ("batch_disabled", "INTEGER"),
)
INDEX_PK = ("bshard",)
# The index's attribute columns: what a listing shows and what the figures count.
INDEX_COLUMNS = tuple(name for name, _ in DEFINED_COLUMNS if name not in INDEX_PK)


def index_name(codes_table):
    """The batch index of a codes table: `codes` -> `codes_by_batch`."""
    return codes_table + INDEX_SUFFIX


def shard_of(key):
    """The shard (0..SHARDS-1) of a normalized code: stable, and even over random codes."""
    return zlib.crc32(key.encode("ascii")) % SHARDS


def bshard(batch, shard):
    return "%s#%02d" % (batch, shard)
