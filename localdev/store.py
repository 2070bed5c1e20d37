"""The local Tablestore of `make run` / `make invoke`, and the `.local/` folder that holds it.

One data directory (default `.local/`, git-ignored) holds the Tablestore data file, the app key,
and while `make run` is up a state file saying where it listens. Exactly one process serves a
data file at a time (an exclusive lock on `ots.lock`): `make run` holds it for its life, and
`make invoke` either talks to the running stack's server or, when none runs, starts one in its
own process for the call. Tables declared in template.yml are created when missing, the way
`fun deploy` creates them (max versions 1, no TTL), and the codes table with the predefined
columns and batch index of functions/fccodes/schema.json (which `python -m tools.codes setup`
adds in the cloud); existing ones are left alone.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.error import URLError
from urllib.request import urlopen

from ots_local import OTSLocal
from tools.templates import Table

# Local fake keys: the local Tablestore server and the local FC API accept exactly these.
LOCAL_ACCESS_KEY_ID = "fc-codes-local-key-id"
LOCAL_ACCESS_KEY_SECRET = "fc-codes-local-key-secret"  # noqa: S105 (a local fake key)
LOCAL_SECURITY_TOKEN = "fc-codes-local-sts-token"  # noqa: S105 (a local fake token)
LOCAL_ACCOUNT_ID = "1000000000000000"
DATA_FILE = "ots.sqlite3"
LOCK_FILE = "ots.lock"
STATE_FILE = "run.json"
APP_KEY_FILE = "app-key"
# What the stack writes under the data directory is for the user alone (the app key is a secret).
DIR_MODE = 0o700
FILE_MODE = 0o600


class StoreError(RuntimeError):
    """The local store cannot be started or reached (the message says why)."""


@dataclass(frozen=True)
class DataDir:
    """The files of one local environment."""

    path: Path

    @property
    def data_file(self) -> Path:
        return self.path / DATA_FILE

    def ensure(self) -> DataDir:
        """Create the directory (0700: the user's alone) if missing; an existing one is kept."""
        if not self.path.is_dir():
            self.path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
        return self

    def app_key(self) -> str:
        """The local app key for APP-auth routes: made once, then kept so curl lines stay valid."""
        file = self.ensure().path / APP_KEY_FILE
        if file.exists():
            key = file.read_text(encoding="utf-8").strip()
            if key:
                private(file)  # one written by an older version was readable by everyone
                return key
        key = "local-" + secrets.token_hex(12)
        write_private(file, key + "\n")
        return key

    def read_state(self) -> dict[str, Any] | None:
        """What a running `make run` wrote about itself, if it is still alive."""
        try:
            state = json.loads((self.path / STATE_FILE).read_text(encoding="utf-8"))
            os.kill(int(state["pid"]), 0)
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return state if isinstance(state, dict) else None

    def write_state(self, state: dict[str, Any]) -> None:
        tmp = self.path / (STATE_FILE + ".tmp")
        write_private(tmp, json.dumps(state, indent=2) + "\n")
        tmp.replace(self.path / STATE_FILE)

    def clear_state(self) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.path / STATE_FILE).unlink()


def write_private(file: Path, text: str) -> None:
    """Write `text` to `file`, readable and writable by the user only (0600) from the start."""
    fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), FILE_MODE)  # an existing file keeps its mode through O_CREAT
        out.write(text)


def private(file: Path) -> None:
    """Make an existing file of ours 0600."""
    if file.stat().st_mode & 0o777 != FILE_MODE:
        file.chmod(FILE_MODE)


@dataclass
class Store:
    """A Tablestore endpoint for the local functions: our own server, or a running stack's."""

    endpoint: str
    instance: str
    server: OTSLocal | None = None  # set when this process serves the data
    lock_fd: int | None = None
    shared_with_pid: int | None = None  # the `make run` whose server we use

    def close(self) -> None:
        """Stop our server (if any) and release the data file."""
        if self.server is not None:
            self.server.stop()
            self.server = None
        if self.lock_fd is not None:
            os.close(self.lock_fd)  # closing releases the flock
            self.lock_fd = None


@contextlib.contextmanager
def _closing_on_error(store: Store) -> Iterator[Store]:
    try:
        yield store
    except BaseException:
        store.close()
        raise


def health(endpoint: str, timeout: float = 2.0) -> dict[str, Any] | None:
    """The local server's health answer, or None if nothing (healthy) answers there."""
    try:
        with urlopen(endpoint + "/__ots_local/health", timeout=timeout) as resp:  # noqa: S310
            body = json.loads(resp.read())
    except (OSError, URLError, ValueError):
        return None
    return body if isinstance(body, dict) and body.get("status") == "ok" else None


def running_stack(data_dir: DataDir) -> dict[str, Any] | None:
    """The state of the `make run` serving this data directory, if it is up and answering.

    A state file left by a stack that was killed (or whose pid was reused) does not count.
    """
    state = data_dir.read_state()
    endpoint = str(state.get("ots_endpoint", "")) if state else ""
    answer = health(endpoint) if endpoint else None
    if state is None or answer is None:
        return None
    return {**state, "health": answer}


def _lock(data_dir: DataDir, wait_s: float, on_wait: Any = None) -> int:
    """Take the exclusive lock on the data directory, waiting up to `wait_s` seconds."""
    fd = os.open(data_dir.ensure().path / LOCK_FILE, os.O_RDWR | os.O_CREAT, FILE_MODE)
    os.fchmod(fd, FILE_MODE)
    deadline = time.monotonic() + wait_s
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            if time.monotonic() >= deadline:
                os.close(fd)
                raise StoreError(
                    f"{data_dir.data_file} is in use by another local process "
                    f"(waited {wait_s:.0f} s); stop it or use another --data-dir"
                ) from None
            if on_wait is not None and not told:
                on_wait()
                told = True
            time.sleep(0.1)


def start_store(
    data_dir: DataDir,
    instance: str,
    port: int = 0,
    wait_s: float = 30.0,
    on_wait: Any = None,
) -> Store:
    """Serve the data directory's Tablestore data from this process (for `make run`)."""
    running = running_stack(data_dir)
    if running is not None:
        raise StoreError(
            f"the local stack is already running at {running.get('url')} "
            f"(pid {running.get('pid')}); stop it first, or use another --data-dir"
        )
    lock_fd = _lock(data_dir, wait_s, on_wait)
    store = Store(endpoint="", instance=instance, lock_fd=lock_fd)
    with _closing_on_error(store):
        server = OTSLocal(
            instance=instance,
            data=str(data_dir.data_file),
            port=port,
            access_key_id=LOCAL_ACCESS_KEY_ID,
            access_key_secret=LOCAL_ACCESS_KEY_SECRET,
        )
        try:
            server.start()
        except Exception as e:
            raise StoreError(f"cannot start the local Tablestore on port {port}: {e}") from e
        store.server = server
        store.endpoint = server.endpoint
    return store


def connect_or_start_store(data_dir: DataDir, instance: str, wait_s: float = 30.0) -> Store:
    """The running stack's Tablestore if `make run` is up, else our own on the same data."""
    state = running_stack(data_dir)
    if state is not None:
        if state["health"].get("instance") != instance:
            raise StoreError(
                f"the running local stack serves instance {state['health'].get('instance')!r}, "
                f"this template uses {instance!r}; restart `make run`"
            )
        return Store(
            endpoint=state["ots_endpoint"], instance=instance, shared_with_pid=int(state["pid"])
        )
    return start_store(data_dir, instance, wait_s=wait_s)


def ensure_tables(store: Store, tables: list[Table]) -> list[str]:
    """Create the template's tables that do not exist yet; returns the names created."""
    from harness import tables as sdk_tables  # noqa: PLC0415 (the SDK, only once a store runs)

    client = sdk_tables.client(
        store.endpoint, LOCAL_ACCESS_KEY_ID, LOCAL_ACCESS_KEY_SECRET, store.instance
    )
    created = []
    existing = set(client.list_table())
    for table in tables:
        if table.name in existing:
            continue
        try:
            sdk_tables.create_declared(client, table.name, table.primary_key, exist_ok=True)
        except Exception as e:  # the SDK's error or a transport failure: say which table
            raise StoreError(f"cannot create table {table.name}: {e}") from e
        created.append(table.name)
    return created
