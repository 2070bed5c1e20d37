"""Repository tooling: deployment templates, the post-deploy smoke test, `make deploy`, the
OpenAPI document.

The API's declaration lives with the functions (`fccodes.api`): functions/ goes on `sys.path`
so that tools import it the way the handlers do.
"""

import os
import sys

_FUNCTIONS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "functions")
if _FUNCTIONS not in sys.path:
    sys.path.insert(1, _FUNCTIONS)
