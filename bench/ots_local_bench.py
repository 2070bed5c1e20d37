"""Benchmark: the real tablestore SDK against ots_local, boto3 against moto_server.

    make bench-ots                      # or: .venv-bench/bin/python bench/ots_local_bench.py
    python bench/ots_local_bench.py --seconds 3 --memory-rows 100000

Both servers run as subprocesses on 127.0.0.1 on this machine, in memory, and are measured in
one run with the nearest operations of the two APIs:

- a conditional single-row write (PutRow EXPECT_NOT_EXIST / PutItem attribute_not_exists),
- a single-row read (GetRow / GetItem),
- batch writes (BatchWriteRow of 200 rows / BatchWriteItem of 25 items), in rows per second,
- the conditional write from 16 concurrent client processes,

on fc-codes' row shape (a random 16-symbol key, 10 attributes). Next to each single-client
rate, the server's CPU per request (user + system time of the server process, from
/proc/PID/stat, over every call of the runs; per row for batches).

Then the SDK's client-only floor: the same single-client conditional put against a canned
server (a separate process that answers the first PutRow through ots_local and then replays
that answer's bytes at once for every PutRow), so that the client's own cost per request is
known and ots_local's put rate can be put beside it. The canned server, ots_local and, with
`--compare-tree DIR`, the ots_local of another checkout (e.g. `git worktree add DIR main`)
take turns, run by run, so that the machine's load weighs on each alike: rate and server CPU
per put of each, side by side (an A/B of two versions in one run).

Then ots_local alone is filled with `--memory-rows` such rows through BatchWriteRow and its
resident memory is printed. Each figure says which Python and which codec (the SDK's native
C++ one or its pure-Python one) the client used.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import ots_server  # noqa: E402 (after the repo root is on sys.path)
from harness.process import start_and_wait  # noqa: E402

ACCESS_KEY_ID = ots_server.LOCAL_ACCESS_KEY_ID
ACCESS_KEY_SECRET = ots_server.LOCAL_ACCESS_KEY_SECRET
INSTANCE = "bench"
TABLE = "codes"
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BATCH_OTS = 200
BATCH_DYNAMO = 25
CLIENTS = 16


def new_code() -> str:
    return "".join(ALPHABET[byte & 31] for byte in secrets.token_bytes(16))


def attributes(i: int) -> list[tuple[str, Any]]:
    """fc-codes' columns plus two more: 10 attributes, some shared by a batch, some unique."""
    now = 1_800_000_000_000
    return [
        ("batch", "bench-batch-0001"),
        ("state", "UNUSED"),
        ("valid_from", now),
        ("valid_until", now + 86_400_000 * 30),
        ("max_uses", 1),
        ("uses", 0),
        ("created_at", now + i),
        ("redeemed_by", ""),
        ("note", secrets.token_hex(8)),
        ("vip", i % 7 == 0),
    ]


# --- servers ---------------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# Runs `python -m ots_local` from the checkout named by the first argument.
RUN_FROM_TREE = (
    "import runpy, sys; sys.path.insert(0, sys.argv.pop(1));"
    " runpy.run_module('ots_local', run_name='__main__', alter_sys=True)"
)


def start_ots_local(tree: Path | None = None) -> tuple[subprocess.Popen[str], str]:
    """ots_local in memory under this interpreter, started as the test suite starts it; with
    `tree`, that checkout's ots_local instead of this one's."""
    if tree is None:
        server = ots_server.start(
            instance=INSTANCE, extra_args=["--quiet"], python=sys.executable, use_real=False
        )
        return server.process, server.endpoint
    command = [sys.executable, "-c", RUN_FROM_TREE, str(tree), "--port", "0", "--quiet"]
    command += ["--instance", INSTANCE, "--access-key-id", ACCESS_KEY_ID]
    command += ["--access-key-secret", ACCESS_KEY_SECRET]
    process, match, _ = start_and_wait(command, ots_server.READY_RE, f"ots_local of {tree}", 30)
    return process, match.group(1)


def start_moto() -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    moto_server = Path(sys.executable).with_name("moto_server")
    process = subprocess.Popen(  # noqa: S603 (our own venv's moto_server)
        [str(moto_server), "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return process, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise SystemExit("moto_server did not start (is moto[server] installed? make bench-ots)")


def stop(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (all its threads), from /proc/PID/stat."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()  # after "pid (comm) "; fields[0] is state
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# --- the canned server (the client-only floor) ------------------------------------------------
def canned_server(port_out: Any) -> None:
    """Answer over one connection at a time: through ots_local until a PutRow succeeded, then
    every PutRow with that answer's bytes, unread. The SDK accepts the replay: a PutRow answer
    and its signature depend on the API and the headers only, not on the row."""
    from ots_local.app import OTSLocalApp  # noqa: PLC0415 (the bench's own process)
    from ots_local.transport import Response  # noqa: PLC0415

    app = OTSLocalApp(INSTANCE, ACCESS_KEY_ID, ACCESS_KEY_SECRET)
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port_out.put(listener.getsockname()[1])
    canned: bytes | None = None
    while True:
        conn, _ = listener.accept()
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while True:
            while b"\r\n\r\n" not in buffer:
                data = conn.recv(262144)
                if not data:
                    break
                buffer += data
            if b"\r\n\r\n" not in buffer:
                conn.close()
                break
            head, buffer = buffer.split(b"\r\n\r\n", 1)
            lines = head.decode("latin-1").split("\r\n")
            method, path = lines[0].split()[:2]
            headers = {}
            for line in lines[1:]:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
            length = int(headers.get("content-length", "0"))
            while len(buffer) < length:
                buffer += conn.recv(262144)
            body, buffer = buffer[:length], buffer[length:]
            if canned is not None and path.endswith("/PutRow"):
                conn.sendall(canned)
                continue
            response = app.handle(method, path, headers, body)
            assert isinstance(response, Response)  # no latency fault: never deferred
            data = response.data
            if path.endswith("/PutRow") and data.startswith(b"HTTP/1.1 200"):
                canned = data
            conn.sendall(data)


def start_canned() -> tuple[multiprocessing.process.BaseProcess, str]:
    context = multiprocessing.get_context("spawn")
    port_out = context.Queue()
    process = context.Process(target=canned_server, args=(port_out,), daemon=True)
    process.start()
    return process, f"http://127.0.0.1:{port_out.get(timeout=60)}"


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# --- clients ---------------------------------------------------------------------------------
class OTS:
    """The operations measured, through the tablestore SDK."""

    def __init__(self, endpoint: str, native: bool) -> None:
        import tablestore  # noqa: PLC0415 (imported by the worker that uses it)
        from tablestore.retry import NoRetryPolicy  # noqa: PLC0415

        self.t = tablestore
        self.client = tablestore.OTSClient(
            endpoint,
            ACCESS_KEY_ID,
            ACCESS_KEY_SECRET,
            INSTANCE,
            retry_policy=NoRetryPolicy(),
            enable_native=native,
        )
        self.written: list[str] = []
        self.rows: list[Any] = []
        self.condition = tablestore.Condition("EXPECT_NOT_EXIST")

    def make_rows(self, count: int) -> None:
        """Rows are made before the clock starts: the figures are the client's and server's."""
        start = len(self.rows)
        self.rows.extend(
            self.t.Row([("code", new_code())], attributes(start + i)) for i in range(count)
        )

    def create_table(self) -> None:
        t = self.t
        self.client.create_table(
            t.TableMeta(TABLE, [("code", "STRING")]),
            t.TableOptions(),
            t.ReservedThroughput(t.CapacityUnit(0, 0)),
        )

    def put(self, i: int) -> None:
        row = self.rows.pop()
        self.client.put_row(TABLE, row, self.condition)
        self.written.append(row.primary_key[0][1])

    def get(self, i: int) -> None:
        code = self.written[i % len(self.written)]
        self.client.get_row(TABLE, [("code", code)], max_version=1)

    def batch(self, i: int) -> int:
        t = self.t
        items = [t.PutRowItem(self.rows.pop(), self.condition) for _ in range(BATCH_OTS)]
        request = t.BatchWriteRowRequest()
        request.add(t.TableInBatchWriteRowItem(TABLE, items))
        response = self.client.batch_write_row(request)
        assert response.is_all_succeed()
        return BATCH_OTS


def dynamo_item(code: str, i: int) -> dict[str, Any]:
    item: dict[str, Any] = {"code": {"S": code}}
    for name, value in attributes(i):
        if isinstance(value, bool):
            item[name] = {"BOOL": value}
        elif isinstance(value, int):
            item[name] = {"N": str(value)}
        else:
            item[name] = {"S": value}
    return item


class Dynamo:
    """The nearest operations, through boto3 against moto_server."""

    def __init__(self, endpoint: str) -> None:
        import boto3  # noqa: PLC0415

        self.client = boto3.client(
            "dynamodb",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",  # noqa: S106 (moto's fake key)
        )
        self.written: list[str] = []
        self.rows: list[Any] = []

    def make_rows(self, count: int) -> None:
        start = len(self.rows)
        self.rows.extend(dynamo_item(new_code(), start + i) for i in range(count))

    def create_table(self) -> None:
        self.client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "code", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "code", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )

    def put(self, i: int) -> None:
        item = self.rows.pop()
        self.client.put_item(
            TableName=TABLE, Item=item, ConditionExpression="attribute_not_exists(code)"
        )
        self.written.append(item["code"]["S"])

    def get(self, i: int) -> None:
        code = self.written[i % len(self.written)]
        self.client.get_item(TableName=TABLE, Key={"code": {"S": code}})

    def batch(self, i: int) -> int:
        requests = [{"PutRequest": {"Item": self.rows.pop()}} for _ in range(BATCH_DYNAMO)]
        response = self.client.batch_write_item(RequestItems={TABLE: requests})
        assert not response.get("UnprocessedItems")
        return BATCH_DYNAMO


def make_client(kind: str, endpoint: str, native: bool) -> Any:
    return OTS(endpoint, native) if kind == "ots" else Dynamo(endpoint)


def run_for(seconds: float, operation: Callable[[int], Any]) -> tuple[float, int]:
    """Call `operation(i)` for `seconds`; returns (units per second, calls)."""
    units = calls = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        result = operation(calls)
        units += result if isinstance(result, int) else 1
        calls += 1
    return units / (time.perf_counter() - started), calls


def worker(
    kind: str, endpoint: str, native: bool, seconds: float, start_at: float, out: Any
) -> None:
    client = make_client(kind, endpoint, native)
    client.make_rows(int(400 * seconds) + 20)
    for i in range(20):  # warm the connection pool
        client.put(i)
    time.sleep(max(0.0, start_at - time.time()))
    rate, _ = run_for(seconds, client.put)
    out.put(rate)


def concurrent(kind: str, endpoint: str, native: bool, seconds: float) -> float:
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    start_at = time.time() + 8  # every process imported and warmed up by then
    processes = [
        context.Process(target=worker, args=(kind, endpoint, native, seconds, start_at, out))
        for _ in range(CLIENTS)
    ]
    for process in processes:
        process.start()
    rates = [out.get(timeout=120) for _ in processes]
    for process in processes:
        process.join(30)
    return sum(rates)


# --- the run ---------------------------------------------------------------------------------
def best_of(
    repeat: int, seconds: float, operation: Callable[[int], Any], pid: int | None = None
) -> tuple[float, float]:
    """The best rate of `repeat` runs (on a shared machine, the least disturbed one), and the
    server's CPU microseconds per unit (call or row) over all of them (NaN without `pid`)."""
    cpu_before = cpu_seconds(pid) if pid is not None else 0.0
    best = 0.0
    units = 0.0
    for _ in range(repeat):
        started = time.perf_counter()
        rate, _ = run_for(seconds, operation)
        units += rate * (time.perf_counter() - started)
        best = max(best, rate)
    if pid is None:
        return best, float("nan")
    return best, (cpu_seconds(pid) - cpu_before) / units * 1e6


def measure(
    kind: str, endpoint: str, native: bool, seconds: float, repeat: int, pid: int
) -> dict[str, float]:
    client = make_client(kind, endpoint, native)
    client.create_table()
    client.make_rows(int(3000 * seconds * repeat) + 50)
    for i in range(50):
        client.put(i)
    results = {}
    results["put"], results["put_cpu_us"] = best_of(repeat, seconds, client.put, pid)
    results["get"], results["get_cpu_us"] = best_of(repeat, seconds, client.get, pid)
    client.make_rows(int(40_000 * seconds * repeat))
    results["batch"], results["batch_cpu_us"] = best_of(repeat, seconds, client.batch, pid)
    results["concurrent"] = concurrent(kind, endpoint, native, seconds)
    return results


def alternating_puts(
    servers: list[tuple[str, str, int]], native: bool, seconds: float, repeat: int
) -> list[tuple[float, float, float]]:
    """The single-client conditional put against each (label, endpoint, pid), in turns, run by
    run (`repeat` rounds): a shared machine's load then weighs on each alike. Returns, per
    server, the best rate, and the server's and the client's CPU microseconds per put over
    all its runs."""
    clients = [OTS(endpoint, native) for _, endpoint, _ in servers]
    for client in clients:
        client.create_table()
        client.make_rows(int(5000 * seconds * repeat) + 50)
        for i in range(50):
            client.put(i)
    best = [0.0] * len(servers)
    cpu = [0.0] * len(servers)
    client_cpu = [0.0] * len(servers)
    puts = [0] * len(servers)
    for _ in range(repeat):
        for n, (client, (_, _, pid)) in enumerate(zip(clients, servers, strict=True)):
            before, client_before = cpu_seconds(pid), time.process_time()
            rate, calls = run_for(seconds, client.put)
            cpu[n] += cpu_seconds(pid) - before
            client_cpu[n] += time.process_time() - client_before
            puts[n] += calls
            best[n] = max(best[n], rate)
    return [
        (best[n], cpu[n] / puts[n] * 1e6, client_cpu[n] / puts[n] * 1e6)
        for n in range(len(servers))
    ]


def floor_and_ots_put(
    native: bool, seconds: float, repeat: int, compare_tree: Path | None
) -> list[tuple[str, float, float, float]]:
    """(label, best rate, server and client CPU us per put) against the canned server (the
    SDK's floor),
    ots_local, and the ots_local of `compare_tree` if given, in alternating runs."""
    canned, canned_endpoint = start_canned()
    started = [start_ots_local()]
    try:
        if compare_tree is not None:
            started.append(start_ots_local(compare_tree))
        servers = [("SDK floor (canned answers)", canned_endpoint, canned.pid or 0)]
        servers.append(("ots_local (this tree)", started[0][1], started[0][0].pid))
        if compare_tree is not None:
            servers.append((f"ots_local of {compare_tree}", started[1][1], started[1][0].pid))
        results = alternating_puts(servers, native, seconds, repeat)
        return [(label, *result) for (label, _, _), result in zip(servers, results, strict=True)]
    finally:
        for server, _ in started:
            stop(server)
        canned.kill()
        canned.join(10)


def fill_for_memory(endpoint: str, rows: int) -> float:
    client = OTS(endpoint, native=True)
    client.create_table()
    started = time.perf_counter()
    for i in range(rows // BATCH_OTS):
        client.make_rows(BATCH_OTS)  # made as they go: a million rows would not fit twice
        client.batch(i)
    return rows / (time.perf_counter() - started)


def measure_servers(
    args: argparse.Namespace, python: str, codec_native: str, native_available: bool
) -> None:
    """Throughput and server CPU per request: ots_local (both codecs) and moto_server."""
    rows: list[tuple[str, dict[str, float]]] = []
    server, endpoint = start_ots_local()
    try:
        result = measure("ots", endpoint, True, args.seconds, args.repeat, server.pid)
        rows.append((f"ots_local, SDK {codec_native}", result))
    finally:
        stop(server)
    if native_available:
        server, endpoint = start_ots_local()
        try:
            result = measure("ots", endpoint, False, args.seconds, args.repeat, server.pid)
            rows.append(("ots_local, SDK pure-Python codec", result))
        finally:
            stop(server)
    if not args.no_moto:
        server, endpoint = start_moto()
        try:
            result = measure("dynamo", endpoint, True, args.seconds, args.repeat, server.pid)
            rows.append(("moto_server, boto3", result))
        finally:
            stop(server)

    header = (
        f"{'client -> server (' + python + ' clients)':44} {'cond. put/s':>12} {'get/s':>9}"
        f" {'batch rows/s':>13} {f'{CLIENTS} clients put/s':>18}"
    )
    print(header)
    print("-" * len(header))
    for label, result in rows:
        print(
            f"{label:44} {result['put']:12.0f} {result['get']:9.0f} {result['batch']:13.0f}"
            f" {result['concurrent']:18.0f}"
        )
    if not args.no_moto and len(rows) > 1:
        moto_result = rows[-1][1]
        ots_result = rows[0][1]
        print(
            f"{'ots_local / moto (native codec)':44}"
            f" {ots_result['put'] / moto_result['put']:11.1f}x"
            f" {ots_result['get'] / moto_result['get']:8.1f}x"
            f" {ots_result['batch'] / moto_result['batch']:12.1f}x"
            f" {ots_result['concurrent'] / moto_result['concurrent']:17.1f}x"
        )
    print(f"\nbatches: BatchWriteRow of {BATCH_OTS} rows, BatchWriteItem of {BATCH_DYNAMO} items")

    header = (
        f"{'server CPU per request (us; /proc/PID/stat)':44} {'cond. put':>12} {'get':>9}"
        f" {'batch, per row':>15}"
    )
    print("\n" + header)
    print("-" * len(header))
    for label, result in rows:
        print(
            f"{label:44} {result['put_cpu_us']:12.0f} {result['get_cpu_us']:9.0f}"
            f" {result['batch_cpu_us']:15.1f}"
        )
    if not args.no_moto and len(rows) > 1:
        ratio = rows[-1][1]["put_cpu_us"] / rows[0][1]["put_cpu_us"]
        verdict = "met" if ratio >= 20 else "MISSED"
        print(
            f"ots_local's server CPU per conditional put is 1/{ratio:.0f} of moto_server's"
            f" (goal: at most 1/20: {verdict})"
        )


def print_floor(
    floor: list[tuple[str, float, float, float]], codec_native: str, repeat: int, seconds: float
) -> None:
    """The floor's alternating runs: each server's rate and CPU per put, then the verdict."""
    header = (
        f"{'single-client cond. put, alternating runs':44} {'best put/s':>12}"
        f" {'server CPU/put (us)':>20} {'client CPU/put (us)':>20}"
    )
    print(f"\n{header}\n{'-' * len(header)}")
    for label, rate, cpu_us, client_us in floor:
        print(f"{label:44} {rate:12,.0f} {cpu_us:20.0f} {client_us:20.0f}")
    (_, floor_rate, _, _), (_, ots_put, ots_cpu, _) = floor[0], floor[1]
    verdict = "met" if floor_rate / ots_put <= 1.2 else "MISSED"
    print(
        f"SDK client-only floor ({codec_native}, canned answers; best of {repeat} runs of"
        f" {seconds:g} s each, in turns): {floor_rate:,.0f} cond. put/s; ots_local"
        f" {ots_put:,.0f}/s: the floor is {floor_rate / ots_put:.2f}x ots_local's rate (goal: at"
        f" most 1.2x: {verdict})"
    )
    for label, rate, cpu_us, _ in floor[2:]:
        print(
            f"this tree against {label.removeprefix('ots_local of ')}: {ots_put / rate:.2f}x the"
            f" put rate, {ots_cpu / cpu_us:.2f}x the server CPU per put"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=4, help="per measurement")
    parser.add_argument(
        "--repeat", type=int, default=3, help="single-client figures: best of this many runs"
    )
    parser.add_argument("--memory-rows", type=int, default=1_000_000)
    parser.add_argument("--no-moto", action="store_true", help="measure ots_local only")
    parser.add_argument(
        "--compare-tree",
        type=Path,
        metavar="DIR",
        help="also measure the ots_local of this checkout (e.g. a worktree of main) in the"
        " floor's alternating runs: an A/B of two versions",
    )
    parser.add_argument(
        "--floor-only",
        action="store_true",
        help="only the floor's alternating runs (with --compare-tree: the A/B alone)",
    )
    args = parser.parse_args()
    if args.compare_tree is not None and not (args.compare_tree / "ots_local").is_dir():
        parser.error(f"--compare-tree: {args.compare_tree} has no ots_local/")

    import boto3  # noqa: PLC0415
    import moto  # noqa: PLC0415
    import tablestore  # noqa: PLC0415
    from tablestore.encoder import NATIVE_ENCODER_AVAILABLE  # noqa: PLC0415

    python = f"Python {platform.python_version()}"
    codec_native = "native C++ codec" if NATIVE_ENCODER_AVAILABLE else "pure-Python codec"
    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; {python}")
    versions = f"tablestore {tablestore.__version__}; boto3 {boto3.__version__}"
    print(f"{versions}; moto {moto.__version__}")
    print(
        f"single-client figures: best of {args.repeat} runs of {args.seconds:g} s;"
        f" {CLIENTS} clients: one run of {args.seconds:g} s; servers in memory on 127.0.0.1"
    )
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other work on this machine)\n")

    if not args.floor_only:
        measure_servers(args, python, codec_native, NATIVE_ENCODER_AVAILABLE)
    floor = floor_and_ots_put(True, args.seconds, args.repeat, args.compare_tree)
    print_floor(floor, codec_native, args.repeat, args.seconds)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")

    if args.memory_rows and not args.floor_only:
        server, endpoint = start_ots_local()
        try:
            baseline = rss_mb(server.pid)
            rate = fill_for_memory(endpoint, args.memory_rows)
            used = rss_mb(server.pid)
        finally:
            stop(server)
        print(
            f"memory: {args.memory_rows:,} rows x 10 attributes in ots_local (in memory):"
            f" {used:,.0f} MB resident ({baseline:,.0f} MB empty); loaded at {rate:,.0f} rows/s"
            f" ({python}, SDK {codec_native})"
        )


if __name__ == "__main__":
    main()
