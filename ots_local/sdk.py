"""The one place ots_local imports the `tablestore` SDK (its generated protobuf modules).

Importing `tablestore` logs "Native C++ encoder/decoder not available, using Python
implementation" on every Python but 3.12 (its native codec is built for 3.12 only), and with
no logging configured that warning lands on stderr. It says nothing about ots_local, so those
two import-time loggers are quieted while we import, and restored right after.
"""

from __future__ import annotations

import logging

_NOISY = ("tablestore.encoder", "tablestore.decoder")
_saved = [(logging.getLogger(name), logging.getLogger(name).level) for name in _NOISY]
for _logger, _ in _saved:
    _logger.setLevel(logging.ERROR)
try:
    import tablestore
    from tablestore.protobuf import search_pb2
    from tablestore.protobuf import table_store_filter_pb2 as filter_pb2
    from tablestore.protobuf import table_store_pb2 as pb2

    try:  # the SDK's C PlainBuffer reader (x86-64 Linux builds only), without its wrapper
        from tablestore.native import NATIVE_AVAILABLE
        from tablestore.native.native_plainbuffer import parse_single_row as native_parse_row
    except ImportError:  # pragma: no cover - depends on the platform
        NATIVE_AVAILABLE = False
    if not NATIVE_AVAILABLE:
        native_parse_row = None
finally:
    for _logger, _level in _saved:
        _logger.setLevel(_level)

SDK_VERSION: str = tablestore.__version__

__all__ = ["SDK_VERSION", "filter_pb2", "native_parse_row", "pb2", "search_pb2"]
