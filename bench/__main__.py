"""`python -m bench` runs `make bench` (bench.perf)."""

import sys

from bench.perf import main

sys.exit(main())
