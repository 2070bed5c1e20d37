"""ots_local: a local Tablestore (OTS) server that the real `tablestore` SDK talks to.

Start it from the command line (`python -m ots_local --port 8800`) or in-process for tests::

    from ots_local import OTSLocal

    with OTSLocal() as ots:
        client = ots.client()

See docs/ots_local.md for the flags, the control plane and what is (not) supported.
"""

from .embedded import OTSLocal

__all__ = ["OTSLocal"]
__version__ = "0.1.0"
