"""The local harness that tests, bench and localdev share: nothing here ships to FC.

- `harness.ots_server`: start `python -m ots_local` as a subprocess (or use a real instance named
  by OTS_TEST_*), drive its control plane (faults, reset), stop it.
- `harness.process`: start a server subprocess, wait for its ready line, stop it.
- `harness.fc`: the FC context a Python handler receives, as far as the functions use it.
- `harness.tables`: an SDK client on a server, the `codes` table created, scanned.

Python 3.6 compatible, and only the `tablestore` SDK beyond the standard library: the runtime
test environments (FC's python3 = 3.6 with tablestore 5.1.0, python3.10 with 5.4.1) and the
bench worker import it. It imports nothing else of this repository.
"""
