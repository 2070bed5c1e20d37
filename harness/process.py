"""Start a server subprocess, wait for its ready line, stop it: shared by the launchers.

Python 3.6 compatible and free of third-party imports (the runtime test environments use it).
"""

import os
import subprocess
import threading

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def start_and_wait(cmd, ready_re, what, timeout, max_lines=20000):
    """Run `cmd` from the repo root; return (process, ready-line match, output lines).

    One thread reads the output for the process's whole life: it finds the ready line, then
    keeps draining so the server never blocks on a full pipe (the lines stay available in the
    returned list, up to `max_lines`). The wait has a deadline even if the process hangs
    without printing anything; on failure the process is killed and RuntimeError says why.
    """
    proc = subprocess.Popen(
        cmd,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        errors="replace",
    )
    lines = []
    found = []
    ready = threading.Event()

    def read_output():
        for raw_line in proc.stdout:
            line = raw_line.rstrip("\n")
            if len(lines) < max_lines:
                lines.append(line)
            if not found:
                match = ready_re.match(line)
                if match:
                    found.append(match)
                    ready.set()
        ready.set()  # EOF: the process exited

    threading.Thread(target=read_output, daemon=True).start()
    ready.wait(timeout)
    if not found:
        proc.kill()
        proc.wait(10)
        raise RuntimeError("%s did not become ready: %s\n%s" % (what, cmd, "\n".join(lines)))
    return proc, found[0], lines


def stop(proc, send, timeout):
    """`send(proc)` (a signal), wait up to `timeout`, then SIGKILL; returns the exit status."""
    if proc.poll() is None:
        send(proc)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
    return proc.returncode
