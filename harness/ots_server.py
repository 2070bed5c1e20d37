"""Start the local Tablestore server for a test session, or point at a real instance.

Python 3.6 compatible and free of third-party imports on purpose: the runtime test environments
(FC's python3 = 3.6 with tablestore 5.1.0, python3.10 with 5.4.1) cannot import `ots_local`
(Python >= 3.10), so they run it as a subprocess under the dev venv's interpreter, named by the
`OTS_LOCAL_PYTHON` environment variable (default: this interpreter).

With `OTS_TEST_ENDPOINT`, `OTS_TEST_INSTANCE`, `OTS_TEST_ACCESS_KEY_ID` and
`OTS_TEST_ACCESS_KEY_SECRET` set, `start()` starts nothing and returns a handle on that real
instance instead (`is_local` is False; the control plane is then unavailable).
"""

import json
import os
import re
import secrets
import subprocess
import sys
import time
from urllib.request import Request, urlopen

from harness import process

READY_RE = re.compile(r"^ots_local ready: endpoint=(\S+) instance=(\S+)")
REAL_ENV = (
    "OTS_TEST_ENDPOINT",
    "OTS_TEST_INSTANCE",
    "OTS_TEST_ACCESS_KEY_ID",
    "OTS_TEST_ACCESS_KEY_SECRET",
)

LOCAL_ACCESS_KEY_ID = "test-access-key-id"
LOCAL_ACCESS_KEY_SECRET = "test-access-key-secret"  # noqa: S105 (the local server's, not a secret)


class ControlPlaneUnavailable(RuntimeError):
    """Raised when a test needs the local server's control plane but runs against a real one."""


class OTSServer(object):
    """A running Tablestore endpoint: the local server (subprocess) or a real instance."""

    def __init__(
        self, endpoint, instance, access_key_id, access_key_secret, process=None, control_token=None
    ):
        self.endpoint = endpoint
        self.control_token = control_token  # sent as X-OTS-Local-Token on control requests
        self.instance = instance
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.process = process
        self.output = []  # the server's log lines, for debugging a failed test

    @property
    def is_local(self):
        return self.process is not None

    # --- control plane (ots_local only) ---------------------------------------------------------
    def control(self, method, path, payload=None):
        if not self.is_local:
            raise ControlPlaneUnavailable("needs the ots_local control plane: " + path)
        data = None if payload is None else json.dumps(payload).encode("utf-8")
        req = Request(self.endpoint + "/__ots_local/" + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("X-OTS-Local-Token", self.control_token)
        with urlopen(req, timeout=10) as resp:
            body = resp.read()
        return json.loads(body.decode("utf-8")) if body else None

    def health(self):
        return self.control("GET", "health")

    def reset(self):
        """Drop every table and row, clear faults, restore the start settings."""
        return self.control("POST", "reset")

    def add_fault(self, kind, api=None, count=None, probability=None, latency_ms=None):
        """Inject a fault: kind is one of busy, timeout, latency, drop_before, drop_after.

        `count` limits it to the next N matching requests, `probability` makes it random,
        `api` restricts it to one API name (e.g. "BatchWriteRow"). Returns the server's answer.
        """
        spec = {"kind": kind}
        for key, value in (
            ("api", api),
            ("count", count),
            ("probability", probability),
            ("latency_ms", latency_ms),
        ):
            if value is not None:
                spec[key] = value
        return self.control("POST", "faults", spec)

    def clear_faults(self):
        return self.control("DELETE", "faults")

    def advance_clock(self, ms):
        """Move the server's data clock (versions, TTL) `ms` milliseconds ahead."""
        return self.control("POST", "clock", {"advance_ms": ms})

    def wait_until_no_request_is_delayed(self, timeout=10):
        """Wait until no request is held by a latency fault any more (they are answered)."""
        deadline = time.monotonic() + timeout
        while self.health()["delayed"]:
            if time.monotonic() > deadline:
                raise AssertionError("requests still delayed after %s s" % timeout)
            time.sleep(0.01)

    def faults(self):
        return self.control("GET", "faults")

    def configure(self, index_delay_ms=None):
        """Change settings (`index_delay_ms`: global secondary index updates become visible
        to index reads that long after their write); returns them all."""
        spec = {} if index_delay_ms is None else {"index_delay_ms": index_delay_ms}
        return self.control("POST", "settings", spec)

    def sync_indexes(self):
        """Apply every delayed index update now: {"applied": N}."""
        return self.control("POST", "indexes/sync")

    # --- lifecycle ------------------------------------------------------------------------------
    def stop(self, timeout=10):
        """Stop the subprocess (SIGTERM, then SIGKILL); a real instance is left alone."""
        if self.process is not None:
            process.stop(self.process, subprocess.Popen.terminate, timeout)

    def kill(self):
        """SIGKILL the subprocess (crash tests)."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


def real_instance_from_env():
    """An OTSServer for the real instance named by OTS_TEST_*, or None if they are not all set."""
    values = [os.environ.get(name) for name in REAL_ENV]
    if all(values):
        return OTSServer(*values)
    return None


def start(
    instance="test",
    data_file=None,
    port=0,
    extra_args=(),
    python=None,
    timeout=30,
    use_real=True,
    control_token=None,
):
    """Start `python -m ots_local` on 127.0.0.1 and wait for its ready line.

    Returns an OTSServer; call `stop()` when done. The server's control-plane token is
    `control_token`, or a random one; the OTSServer sends it. With `use_real` and the OTS_TEST_*
    variables set, returns the real instance instead.
    """
    if use_real:
        real = real_instance_from_env()
        if real is not None:
            return real
    python = python or os.environ.get("OTS_LOCAL_PYTHON") or sys.executable
    cmd = [
        python,
        "-m",
        "ots_local",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--instance",
        instance,
        "--access-key-id",
        LOCAL_ACCESS_KEY_ID,
        "--access-key-secret",
        LOCAL_ACCESS_KEY_SECRET,
    ]
    control_token = control_token or secrets.token_hex(16)
    cmd += ["--control-token", control_token]
    if data_file:
        cmd += ["--data", str(data_file)]
    cmd += list(extra_args)
    proc, match, lines = process.start_and_wait(cmd, READY_RE, "ots_local", timeout, 10000)
    server = OTSServer(
        match.group(1),
        match.group(2),
        LOCAL_ACCESS_KEY_ID,
        LOCAL_ACCESS_KEY_SECRET,
        process=proc,
        control_token=control_token,
    )
    server.output = lines
    return server
