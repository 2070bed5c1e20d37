"""SQLite storage: one WITHOUT ROWID table per Tablestore table, keyed by `keys.encode_key`.

A server with a data file keeps its data here: a file in WAL mode with `synchronous=NORMAL`
(`path=None`, an in-memory database, serves the tests as the reference of `memstore.py`, which
keeps a server's data when it has no file). Every write request runs in one transaction that
is committed before the server answers, so an acknowledged write survives the process being
killed (`kill -9`); after a power loss the last transactions may be gone (that would need
`synchronous=FULL`, an fsync per commit).

A row's value is its attribute columns, `{name: [(timestamp, value), ...]}` newest first,
serialized with `marshal` (compact, fast, and keeps str/bytes/int/float/bool apart).

Secondary indexes are row stores too (`ots_indexes` names them and their data table), whose
rows also keep, in columns of their own, what a read of the whole row returns: its size and
PlainBuffer body, and the timestamp it expires from (`IndexRow`). The index updates still to
apply (a global index with a delay) wait in `ots_pending`, written in the same transaction as
the data table's row, so a restart finds every one of them. Both tables are created when
missing: a data file of format 1 without them opens unchanged.

Only one thread may use a Storage: the server's event loop owns it, which is also what makes
every single-row conditional write atomic.
"""

from __future__ import annotations

import fcntl
import marshal
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

from .keys import KeyRange

# Bump when the on-disk layout changes; opening another version's file fails clearly.
SCHEMA_VERSION = 1

Columns = dict[str, list[tuple[int, Any]]]


class IndexRow(NamedTuple):
    """An index row as stored: its columns, and its whole-row read made once."""

    columns: Columns
    ts: int  # the row has expired once this is at or below the time-to-live's floor
    size: int
    body: bytes  # the PlainBuffer row body of the whole row


class StorageError(RuntimeError):
    """The data file cannot be used (wrong format or version)."""


class Storage:
    """Tables and rows in SQLite. Keys are bytes, rows are column dicts."""

    def __init__(self, path: str | None = None) -> None:
        self.path = path
        # One server per data file: a second one would keep its own table list and answer
        # differently from the first. The lock goes with the process, even on kill -9.
        self._lock_fd = None if path is None else _lock_data_file(path)
        try:
            self.conn = self._open(path)
        except BaseException:
            self._unlock()
            raise
        self._in_transaction = False

    @staticmethod
    def _open(path: str | None) -> sqlite3.Connection:
        if path is not None:
            # Owner-only: SQLite gives the -wal and -shm files the data file's mode, and an
            # empty file is a new database to it.
            os.close(os.open(path, os.O_RDWR | os.O_CREAT, 0o600))
        conn = sqlite3.connect(
            ":memory:" if path is None else path,
            isolation_level=None,  # we issue BEGIN/COMMIT ourselves
            check_same_thread=False,  # created by one thread, then used by the loop thread only
            cached_statements=512,
        )
        try:
            Storage._prepare(conn, path)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _prepare(conn: sqlite3.Connection, path: str | None) -> None:
        if path is None:
            conn.execute("PRAGMA journal_mode=MEMORY")
        else:
            mode = conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise StorageError(f"{path}: cannot switch to WAL mode (got {mode})")
            conn.execute("PRAGMA synchronous=NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        names = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        has_meta = "ots_tables" in names
        if version == 0 and not names:  # a new (empty) database
            conn.execute(
                "CREATE TABLE ots_tables (name TEXT PRIMARY KEY, id INTEGER NOT NULL UNIQUE,"
                " meta TEXT NOT NULL)"
            )
            conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        elif version != SCHEMA_VERSION or not has_meta:
            raise StorageError(
                f"{path}: not an ots_local data file of format {SCHEMA_VERSION}"
                f" (user_version={version})"
            )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ots_indexes (name TEXT PRIMARY KEY,"
            " id INTEGER NOT NULL UNIQUE, base TEXT NOT NULL, meta TEXT NOT NULL)"
        )
        conn.execute(
            "CREATE TABLE IF NOT EXISTS ots_pending (seq INTEGER PRIMARY KEY,"
            " index_id INTEGER NOT NULL, due INTEGER NOT NULL, del_key BLOB, put_key BLOB,"
            " put_value BLOB)"
        )

    # --- transactions -------------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Run the block in one transaction, committed at the end (nested blocks join it)."""
        if self._in_transaction:
            yield
            return
        self.conn.execute("BEGIN")
        self._in_transaction = True
        try:
            yield
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._in_transaction = False

    # --- tables -------------------------------------------------------------------------------
    def tables(self) -> list[tuple[str, int, str]]:
        """Every stored table as (name, id, meta JSON)."""
        return list(self.conn.execute("SELECT name, id, meta FROM ots_tables ORDER BY name"))

    def create_table(self, name: str, meta: str) -> int:
        """Create a table's row store and record its metadata; returns its id."""
        with self.transaction():
            table_id = self._new_row_store()
            self.conn.execute(
                "INSERT INTO ots_tables (name, id, meta) VALUES (?, ?, ?)", (name, table_id, meta)
            )
        return table_id

    def _new_row_store(self, index: bool = False) -> int:
        row = self.conn.execute(
            "SELECT MAX(COALESCE((SELECT MAX(id) FROM ots_tables), 0),"
            " COALESCE((SELECT MAX(id) FROM ots_indexes), 0)) + 1"
        ).fetchone()
        store_id = int(row[0])
        self._create_row_store(store_id, index)
        return store_id

    def _create_row_store(self, store_id: int, index: bool) -> None:
        extra = ", ts INTEGER NOT NULL, size INTEGER NOT NULL, body BLOB NOT NULL" if index else ""
        self.conn.execute(
            f"CREATE TABLE t{store_id} (k BLOB PRIMARY KEY, v BLOB NOT NULL{extra}) WITHOUT ROWID"
        )

    # --- indexes ------------------------------------------------------------------------------
    def indexes(self) -> list[tuple[str, int, str, str]]:
        """Every stored index as (name, id, data table name, meta JSON), oldest first."""
        return list(self.conn.execute("SELECT name, id, base, meta FROM ots_indexes ORDER BY id"))

    def create_index(self, name: str, base: str, meta: str) -> int:
        """Create an index's row store and record it; returns its id."""
        with self.transaction():
            index_id = self._new_row_store(index=True)
            self.conn.execute(
                "INSERT INTO ots_indexes (name, id, base, meta) VALUES (?, ?, ?, ?)",
                (name, index_id, base, meta),
            )
        return index_id

    def index_layout_current(self, index_id: int) -> bool:
        """True if an index store has the columns of this version (`IndexRow`)."""
        columns = {row[1] for row in self.conn.execute(f"PRAGMA table_info(t{index_id})")}
        return "body" in columns

    def recreate_index_store(self, index_id: int) -> None:
        """Replace an index store by an empty one of this version's layout (same id), and
        forget its queued changes."""
        with self.transaction():
            self.conn.execute(f"DROP TABLE t{index_id}")
            self._create_row_store(index_id, index=True)
            self.conn.execute("DELETE FROM ots_pending WHERE index_id=?", (index_id,))

    def drop_index(self, name: str, index_id: int) -> None:
        """Drop an index, its rows and its pending updates."""
        with self.transaction():
            self.conn.execute(f"DROP TABLE t{index_id}")
            self.conn.execute("DELETE FROM ots_indexes WHERE name=?", (name,))
            self.conn.execute("DELETE FROM ots_pending WHERE index_id=?", (index_id,))

    def queue_index_update(
        self,
        index_id: int,
        due: int,
        del_key: bytes | None,
        put_key: bytes | None,
        put_row: IndexRow | None,
    ) -> None:
        """Queue one index change (delete a row, put a row, or both) to apply at `due` ms."""
        value = None
        if put_row is not None:
            value = marshal.dumps((marshal.dumps(put_row.columns), *put_row[1:]))
        self.conn.execute(
            "INSERT INTO ots_pending (index_id, due, del_key, put_key, put_value)"
            " VALUES (?, ?, ?, ?, ?)",
            (index_id, due, del_key, put_key, value),
        )

    def pending_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM ots_pending").fetchone()[0])

    def next_due(self) -> int | None:
        """When the oldest queued index change is due (None: the queue is empty)."""
        row = self.conn.execute("SELECT due FROM ots_pending ORDER BY seq LIMIT 1").fetchone()
        return None if row is None else int(row[0])

    def apply_pending(self, now: int | None) -> int:
        """Apply queued index changes in order, up to the first not due at `now` (None: all).

        Returns how many were applied; they leave the queue in the same transaction.
        """
        with self.transaction():
            cursor = self.conn.execute(
                "SELECT seq, index_id, due, del_key, put_key, put_value FROM ots_pending"
                " ORDER BY seq"
            )
            last = None
            applied = 0
            try:
                for seq, index_id, due, del_key, put_key, put_value in cursor:
                    if now is not None and due > now:
                        break
                    if del_key is not None and del_key != put_key:
                        sql = f"DELETE FROM t{index_id} WHERE k=?"  # noqa: S608
                        self.conn.execute(sql, (del_key,))
                    if put_key is not None:
                        self.conn.execute(
                            f"INSERT OR REPLACE INTO t{index_id} (k, v, ts, size, body)"  # noqa: S608
                            " VALUES (?, ?, ?, ?, ?)",
                            (put_key, *marshal.loads(put_value)),  # noqa: S302 (our own data)
                        )
                    last = seq
                    applied += 1
            finally:
                cursor.close()
            if last is not None:
                self.conn.execute("DELETE FROM ots_pending WHERE seq<=?", (last,))
        return applied

    def update_table_meta(self, name: str, meta: str) -> None:
        with self.transaction():
            self.conn.execute("UPDATE ots_tables SET meta=? WHERE name=?", (meta, name))

    def drop_table(self, name: str, table_id: int) -> None:
        """Drop a table, its rows and its indexes."""
        with self.transaction():
            for index_name, index_id, base, _ in self.indexes():
                if base == name:
                    self.drop_index(index_name, index_id)
            self.conn.execute(f"DROP TABLE t{table_id}")
            self.conn.execute("DELETE FROM ots_tables WHERE name=?", (name,))

    def drop_all(self) -> None:
        """Delete every table and row (the control plane's reset)."""
        with self.transaction():
            for _, table_id, _ in self.tables():
                self.conn.execute(f"DROP TABLE t{table_id}")
            for _, index_id, _, _ in self.indexes():
                self.conn.execute(f"DROP TABLE t{index_id}")
            self.conn.execute("DELETE FROM ots_tables")
            self.conn.execute("DELETE FROM ots_indexes")
            self.conn.execute("DELETE FROM ots_pending")
        if self.path is None:
            return
        self.conn.execute("VACUUM")

    # --- rows ---------------------------------------------------------------------------------
    # Table ids are integers we allocate, never client input: the f-strings below are safe.
    def get(self, table_id: int, key: bytes) -> Columns | None:
        sql = f"SELECT v FROM t{table_id} WHERE k=?"  # noqa: S608
        row = self.conn.execute(sql, (key,)).fetchone()
        return None if row is None else marshal.loads(row[0])  # noqa: S302 (our own data)

    def put(self, table_id: int, key: bytes, columns: Columns) -> None:
        sql = f"INSERT OR REPLACE INTO t{table_id} (k, v) VALUES (?, ?)"  # noqa: S608
        self.conn.execute(sql, (key, marshal.dumps(columns)))

    def put_index_rows(self, index_id: int, rows: Iterable[tuple[bytes, IndexRow]]) -> None:
        sql = (
            f"INSERT OR REPLACE INTO t{index_id} (k, v, ts, size, body)"  # noqa: S608
            " VALUES (?, ?, ?, ?, ?)"
        )
        dumps = marshal.dumps
        self.conn.executemany(
            sql, ((key, dumps(row.columns), row.ts, row.size, row.body) for key, row in rows)
        )

    def scan_bodies(
        self, index_id: int, keys: KeyRange, backward: bool, limit: int, floor: int | None
    ) -> Iterator[tuple[bytes, int, bytes]]:
        """Like `scan` over an index store, for whole-row reads: (key, size, body) of up to
        `limit` rows not expired at `floor`."""
        where = []
        params: list[Any] = []
        if keys.lower is not None:
            where.append("k >= ?" if keys.lower_inclusive else "k > ?")
            params.append(keys.lower)
        if keys.upper is not None:
            where.append("k <= ?" if keys.upper_inclusive else "k < ?")
            params.append(keys.upper)
        if floor is not None:
            where.append("ts > ?")
            params.append(floor)
        sql = f"SELECT k, size, body FROM t{index_id}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY k DESC" if backward else " ORDER BY k"
        sql += " LIMIT ?"
        params.append(limit)
        cursor = self.conn.execute(sql, params)
        try:
            yield from cursor
        finally:
            cursor.close()

    def put_index_row(self, index_id: int, key: bytes, row: IndexRow) -> None:
        self.put_index_rows(index_id, [(key, row)])

    def insert(self, table_id: int, key: bytes, columns: Columns) -> bool:
        """Store a row only if its key is free; True if it was stored."""
        sql = f"INSERT OR IGNORE INTO t{table_id} (k, v) VALUES (?, ?)"  # noqa: S608
        return self.conn.execute(sql, (key, marshal.dumps(columns))).rowcount == 1

    def delete(self, table_id: int, key: bytes) -> None:
        self.conn.execute(f"DELETE FROM t{table_id} WHERE k=?", (key,))  # noqa: S608

    def scan(
        self, table_id: int, keys: KeyRange, backward: bool, limit: int
    ) -> Iterator[tuple[bytes, Columns]]:
        """Up to `limit` rows with keys between the bounds (None: unbounded), in key order.

        Rows are read lazily; close the iterator (or exhaust it) to release the statement.
        """
        where = []
        params: list[Any] = []
        if keys.lower is not None:
            where.append("k >= ?" if keys.lower_inclusive else "k > ?")
            params.append(keys.lower)
        if keys.upper is not None:
            where.append("k <= ?" if keys.upper_inclusive else "k < ?")
            params.append(keys.upper)
        sql = f"SELECT k, v FROM t{table_id}"  # noqa: S608
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY k DESC" if backward else " ORDER BY k"
        sql += " LIMIT ?"
        params.append(limit)
        loads = marshal.loads  # our own data: noqa S302 below
        cursor = self.conn.execute(sql, params)
        try:
            for key, value in cursor:
                yield key, loads(value)
        finally:
            cursor.close()

    def count_rows(self, table_id: int) -> int:
        sql = f"SELECT COUNT(*) FROM t{table_id}"  # noqa: S608
        return int(self.conn.execute(sql).fetchone()[0])

    def close(self) -> None:
        self.conn.close()
        self._unlock()

    def _unlock(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock
            self._lock_fd = None


def _lock_data_file(path: str) -> int:
    """Hold an exclusive lock on `<path>.lock`; StorageError if another server holds it."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise StorageError(
            f"{path} is in use by another ots_local server (one server per data file)"
        ) from None
    return fd
