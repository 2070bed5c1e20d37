"""`python -m localdev`: see localdev.cli."""

import sys

from localdev.cli import main

sys.exit(main())
