# -*- coding: utf-8 -*-
"""One local Function Compute instance: a process that serves one function, one call at a time.

Started by `localdev.instances` as `PYTHON -I fc_worker.py CODE_DIR` (by path, so that it runs
under any interpreter, including FC's python3 = Python 3.6 with tablestore 5.1.0, without
importing the `localdev` package, which needs Python >= 3.10). Python 3.6 syntax on purpose.

Like FC's Python runtime it puts the code directory first on `sys.path` and makes it the working
directory, runs the initializer once, then calls `handler(event, context)` with the event as raw
bytes and a context with `request_id`, `credentials`, `function`, `service`, `region` and
`account_id`. The root logger is configured the way FC's runtime does (one line per record with
time, request id and level), so `logging.info` in a function shows up in the invocation's logs.

Protocol, over the process's original stdin (requests) and stdout (replies); each message is an
8-byte header (two big-endian uint32: meta length, payload length), UTF-8 JSON meta, payload:
- worker -> parent once at start: {"ready": true, "pid", "python"}
- parent -> worker: {"op": "init" | "invoke", "context": {...}, "initializer" | "handler": "m.f"},
  payload = the event bytes (invoke only)
- worker -> parent: {"ok": bool, "error": {errorMessage, errorType, stackTrace} | null,
  "duration_ms", "memory_kb", "logs", "tablestore"}, payload = the function's result bytes
File descriptors 1 and 2 point at a capture file, so everything the function prints (print, logging,
C extensions) is returned as that call's logs. EOF on stdin ends the process.
"""

import contextlib
import importlib
import io
import json
import logging
import os
import resource
import struct
import sys
import tempfile
import time
import traceback

HEADER = struct.Struct(">II")
MAX_LOG_BYTES = 1024 * 1024  # per call: the tail is kept
THIS_FILE = os.path.abspath(__file__)


# --- framing ------------------------------------------------------------------------------------
def read_exact(fd, size):
    chunks = []
    while size:
        chunk = os.read(fd, min(size, 1 << 20))
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def read_message(fd):
    """(meta dict, payload bytes), or None at end of input."""
    header = read_exact(fd, HEADER.size)
    if header is None:
        return None
    meta_size, payload_size = HEADER.unpack(header)
    meta = read_exact(fd, meta_size) if meta_size else b"{}"
    payload = read_exact(fd, payload_size) if payload_size else b""
    if meta is None or payload is None:
        return None
    return json.loads(meta.decode("utf-8")), payload


def write_message(fd, meta, payload=b""):
    data = json.dumps(meta).encode("utf-8")
    view = memoryview(HEADER.pack(len(data), len(payload)) + data + payload)
    while view:
        written = os.write(fd, view)
        view = view[written:]


# --- the context FC passes ----------------------------------------------------------------------
class Credentials(object):
    def __init__(self, access_key_id, access_key_secret, security_token):
        self.access_key_id = access_key_id
        self.access_key_secret = access_key_secret
        self.security_token = security_token

    def __repr__(self):  # never show the secret
        return "Credentials(access_key_id=%r)" % self.access_key_id


class FunctionMeta(object):
    def __init__(self, name, handler, memory, timeout, initializer, initialization_timeout):
        self.name = name
        self.handler = handler
        self.memory = memory
        self.timeout = timeout
        self.initializer = initializer
        self.initialization_timeout = initialization_timeout


class ServiceMeta(object):
    def __init__(self, name, log_project, log_store, qualifier, version_id):
        self.name = name
        self.log_project = log_project
        self.log_store = log_store
        self.qualifier = qualifier
        self.version_id = version_id


class Context(object):
    """What FC's Python runtime hands to `handler(event, context)` and `initializer(context)`."""

    def __init__(self, data):
        self.request_id = data["request_id"]
        self.credentials = Credentials(**data["credentials"])
        self.function = FunctionMeta(**data["function"])
        self.service = ServiceMeta(**data["service"])
        self.region = data["region"]
        self.account_id = data["account_id"]


# --- logs ---------------------------------------------------------------------------------------
def utf8_stream(fd):
    """A line-buffered UTF-8 text stream on `fd` (left open: it is the process's own)."""
    return io.open(fd, "w", encoding="utf-8", errors="backslashreplace", closefd=False, buffering=1)


class LogCapture(object):
    """Points fds 1 and 2 at an unlinked file; `take()` returns what was written since last time."""

    def __init__(self):
        fd, path = tempfile.mkstemp(prefix="fc-worker-", suffix=".log")
        os.close(fd)
        # O_APPEND: after a truncate, writes through fds 1 and 2 start again at offset 0.
        self.fd = os.open(path, os.O_RDWR | os.O_APPEND)
        os.unlink(path)
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)
        # UTF-8 whatever the locale: Python 3.6 under LANG=C would make print("é") raise.
        sys.stdout = utf8_stream(1)
        sys.stderr = utf8_stream(2)

    def take(self):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a function may have closed or replaced it
                stream.flush()
        size = os.fstat(self.fd).st_size
        start = max(0, size - MAX_LOG_BYTES)
        data = os.pread(self.fd, size - start, start) if size else b""
        os.ftruncate(self.fd, 0)
        return data.decode("utf-8", "replace")


class RequestIdFilter(logging.Filter):
    """Stamps each record with the current request id, as FC's runtime does."""

    request_id = ""

    def filter(self, record):
        record.request_id = RequestIdFilter.request_id
        return True


class UTCFormatter(logging.Formatter):
    def formatTime(self, record, datefmt=None):
        moment = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        return "%s.%03dZ" % (moment, record.msecs)


def setup_logging():
    handler = logging.StreamHandler(sys.stdout)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(UTCFormatter("%(asctime)s %(request_id)s [%(levelname)s] %(message)s"))
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(logging.INFO)


# --- memory -------------------------------------------------------------------------------------
def reset_peak_memory():
    """Restart the peak RSS count so that each call reports its own peak (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except (OSError, IOError):
        pass


def peak_memory_kb():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, IOError, ValueError):
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


# --- calls --------------------------------------------------------------------------------------
def resolve(name):
    """`module.function` (the module relative to the code directory) -> the callable."""
    module_name, _, attribute = name.rpartition(".")
    if not module_name:
        raise ValueError("invalid handler %r: expected module.function" % name)
    module = importlib.import_module(module_name)
    return getattr(module, attribute)


def error_info(exc):
    """FC's shape for an unhandled error: errorMessage, errorType, stackTrace (frame lists)."""
    frames = [
        f for f in traceback.extract_tb(exc.__traceback__) if os.path.abspath(f[0]) != THIS_FILE
    ]
    return {
        "errorMessage": str(exc),
        "errorType": type(exc).__name__,
        "stackTrace": [
            ['File "%s"' % f[0], "line %d" % f[1], "in %s" % f[2], f[3] or ""] for f in frames
        ],
    }


def encode_result(value):
    """The bytes FC returns for a handler's return value."""
    if value is None:
        return b""
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (dict, list)):
        return json.dumps(value).encode("utf-8")
    return str(value).encode("utf-8")


def tablestore_version():
    module = sys.modules.get("tablestore")
    return getattr(module, "__version__", None) if module is not None else None


def call(capture, meta, payload):
    context = Context(meta["context"])
    RequestIdFilter.request_id = context.request_id
    reset_peak_memory()
    started = time.monotonic()
    result = b""
    error = None
    try:
        if meta["op"] == "init":
            resolve(meta["initializer"])(context)
        else:
            result = encode_result(resolve(meta["handler"])(payload, context))
    except BaseException as exc:
        error = error_info(exc)
        traceback.print_exc()
    duration_ms = (time.monotonic() - started) * 1000.0
    reply = {
        "ok": error is None,
        "error": error,
        "duration_ms": duration_ms,
        "memory_kb": peak_memory_kb(),
        "logs": capture.take(),
        "tablestore": tablestore_version(),
    }
    RequestIdFilter.request_id = ""
    return reply, result


def main(argv):
    code_dir = os.path.abspath(argv[1])
    requests = os.dup(0)
    replies = os.dup(1)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    capture = LogCapture()
    os.chdir(code_dir)
    sys.path.insert(0, code_dir)
    setup_logging()
    write_message(
        replies,
        {"ready": True, "pid": os.getpid(), "python": "%d.%d.%d" % sys.version_info[:3]},
    )
    while True:
        message = read_message(requests)
        if message is None:
            return 0
        reply, result = call(capture, *message)
        write_message(replies, reply, result)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
