"""`make bench` and `make chaos`: figures and fault drills for fc-codes (docs/bench.md).

- `bench.perf` (`python -m bench`): generation, redemption and cold-start figures per FC runtime,
  each beside the naive baseline it replaces.
- `bench.chaos` (`python -m bench.chaos`): races, store faults, a server crash and event fuzzing;
  exits non-zero on any violation.
- `bench.worker`: the measuring side of `bench.perf`, run inside each runtime's interpreter.

This file and `bench.worker` run on Python 3.6 too (FC's python3 runtime); both take the FC
context of the shared harness (`harness.fc.FCContext`).
"""

import os
import sys

# The handlers run the way FC runs them: functions/ is the code root (`import gen_code`).
_FUNCTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(1, _FUNCTIONS)
