"""`python -m ots_local --help`"""

import sys

from .cli import main

sys.exit(main())
