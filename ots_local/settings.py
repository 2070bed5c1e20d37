"""Server settings a test may change while the server runs (`POST /__ots_local/settings`,
`OTSLocal.configure`); `reset` puts back the defaults.

- ``index_delay_ms``: how long a write's global secondary index updates wait before index
  reads see them (default 0: with the write). Local indexes are never delayed.
"""

from __future__ import annotations

from typing import Any

from .limits import MAX_INDEX_DELAY_MS

DEFAULTS: dict[str, Any] = {"index_delay_ms": 0}


class SettingsError(ValueError):
    """Settings that cannot be used; the message says why."""


def check_settings(spec: Any) -> dict[str, Any]:
    """Validate a JSON settings object (any subset of the settings); returns it."""
    if not isinstance(spec, dict):
        raise SettingsError('settings are a JSON object, e.g. {"index_delay_ms": 200}')
    unknown = sorted(set(spec) - set(DEFAULTS))
    if unknown:
        raise SettingsError(f"unknown setting(s) {unknown}; settings are {sorted(DEFAULTS)}")
    delay = spec.get("index_delay_ms", 0)
    if type(delay) is not int or not 0 <= delay <= MAX_INDEX_DELAY_MS:
        raise SettingsError(
            f"index_delay_ms must be an integer in [0, {MAX_INDEX_DELAY_MS}], not {delay!r}"
        )
    return dict(spec)
