"""Importing existing codes: a CSV or JSON list read, checked line by line, and stored.

Imported codes keep the text they were issued with (`codes.literal_key`): any 1-64 printable
ASCII characters, case-sensitive, no check symbol. A text that is also a well-formed generated code
(check symbol right) is stored under its normalized key instead, so that it is looked up the way
every generated code is. Nothing is written unless the whole list is well-formed (a bad line is
`INVALID_REQUEST` naming the line); then every code is inserted only if no row has its key:
repeats within the list and codes that already exist are reported, never overwritten. Importing
the same list into the same batch again stores nothing twice: the codes it already stored are
counted as `already_imported`.

This module is plain logic over `fccodes.port.Store` (the service layer's view of the store).
"""

import csv
import io
import json
import secrets
import threading

from . import api, codes, parallel, params, timefmt
from .errors import InvalidRequest, PayloadTooLarge, StoreUnavailable, TableNotFound
from .port import BATCH_GET_LIMIT, BATCH_WRITE_LIMIT, CONDITION_FAILED, OK
from .retry import Backoff

# Codes in one import request, and its body (API Gateway allows 8 MB; base64 adds a third).
MAX_IMPORT_CODES = api.MAX_IMPORT_CODES
MAX_IMPORT_BYTES = api.MAX_IMPORT_BYTES
REPORTED = 100  # repeats and conflicts listed in the answer (all are counted)
NONCE_PREFIX = "import-"  # the `nonce` of imported rows: "import-" + 16 hex digits per request
CSV_TYPES = ("text/csv", "text/plain", "application/csv")


class Entry(object):
    """One code of the list: where it was (`line`: a CSV line, or the JSON list's index + 1),
    its text as written and its stored key."""

    __slots__ = ("key", "line", "text")

    def __init__(self, line, text, key):
        self.line = line
        self.text = text
        self.key = key


def key_for(text):
    """The stored key of an imported code: its normalized key if it is a well-formed generated
    code, else the literal key; None if it cannot be a code."""
    normalized = codes.normalize(text) if len(text) <= codes.MAX_LITERAL_LENGTH else None
    return normalized or codes.literal_key(text)


def parse_csv(raw):
    """[Entry] from CSV bytes: one code per line, an optional header line `code`.

    Raises InvalidRequest naming the line: not UTF-8, a malformed line (an unclosed quote),
    more than one field, an empty line, a code over 64 characters or with a character that is
    not printable, more than MAX_IMPORT_CODES codes. One final line break is allowed.
    """
    try:
        text = raw.decode("utf-8-sig")  # a byte-order mark, as spreadsheets write it, is dropped
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InvalidRequest("line %d" % line, "is not UTF-8 text") from None
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()  # the final line break
    entries = []
    for number, raw_line in enumerate(lines, 1):
        line = raw_line[:-1] if raw_line.endswith("\r") else raw_line
        if line == "":
            raise InvalidRequest("line %d" % number, "is empty; one code per line")
        try:
            fields = next(csv.reader([line], strict=True))
        except csv.Error as exc:
            raise InvalidRequest("line %d" % number, "is not valid CSV (%s)" % exc) from None
        if len(fields) != 1:
            raise InvalidRequest(
                "line %d" % number,
                "has %d fields; one code per line (quote a code that holds a comma)" % len(fields),
            )
        if number == 1 and fields[0].strip().lower() == "code":
            continue  # the header
        entries.append(_entry("line %d" % number, number, fields[0]))
        if len(entries) > MAX_IMPORT_CODES:
            raise InvalidRequest(
                "line %d" % number,
                "is past the limit of %d codes in one import; split the file" % MAX_IMPORT_CODES,
            )
    if not entries:
        raise InvalidRequest("body", "holds no codes")
    return entries


def parse_json_list(items, field="codes"):
    """[Entry] from a JSON list of strings; errors name the item (`codes[3]`)."""
    if not isinstance(items, list):
        raise InvalidRequest(field, "must be a list of codes")
    if not items:
        raise InvalidRequest(field, "holds no codes")
    if len(items) > MAX_IMPORT_CODES:
        raise InvalidRequest(
            "%s[%d]" % (field, MAX_IMPORT_CODES),
            "is past the limit of %d codes in one import; split the list" % MAX_IMPORT_CODES,
        )
    entries = []
    for index, item in enumerate(items):
        name = "%s[%d]" % (field, index)
        if not isinstance(item, str):
            raise InvalidRequest(name, "must be a string")
        entries.append(_entry(name, index + 1, item))
    return entries


def _entry(name, line, text):
    if text == "":
        raise InvalidRequest(name, "is an empty code")
    if len(text) > codes.MAX_LITERAL_LENGTH:
        raise InvalidRequest(
            name, "is %d characters; a code has at most %d" % (len(text), codes.MAX_LITERAL_LENGTH)
        )
    bad = next((c for c in text if not " " <= c <= "~"), None)
    if bad is not None:
        raise InvalidRequest(
            name, "holds the character %s, which is not printable ASCII" % ascii(bad)
        )
    return Entry(line, text, key_for(text))


def parse_body(raw, content_type):
    """(entries, params) of an import request's body: CSV by its content type, else JSON (a
    list of codes, or an object with `codes` and the other parameters)."""
    if len(raw) > MAX_IMPORT_BYTES:
        raise PayloadTooLarge(len(raw), MAX_IMPORT_BYTES)
    media = (content_type or "").split(";")[0].strip().lower()
    if media in CSV_TYPES:
        return parse_csv(raw), {}
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise InvalidRequest(
            "body", "is neither JSON nor CSV (send CSV with Content-Type: text/csv)"
        ) from None
    if isinstance(data, list):
        return parse_json_list(data), {}
    if not isinstance(data, dict):
        raise InvalidRequest("body", "must be a list of codes or an object with codes")
    params = dict(data)
    return parse_json_list(params.pop("codes", None)), params


IMPORT_FIELDS = ("valid_from", "valid_until", "max_uses", "metadata")


def field_value(name, raw, tz, max_uses_limit):
    """One import field checked and converted: a time in epoch ms, max_uses as an int, or
    metadata as the compact JSON text a generated code stores (a JSON object; from a query
    string, its JSON text)."""
    if name == "metadata":
        if isinstance(raw, str):  # from a query string
            try:
                raw = json.loads(raw)
            except ValueError:
                raise InvalidRequest(name, "must be a JSON object") from None
        return params.metadata_text(name, raw)
    if name == "max_uses":
        if isinstance(raw, str) and raw.strip().isdigit():
            raw = int(raw)  # from a query string
        if isinstance(raw, bool) or not isinstance(raw, int) or not 1 <= raw <= max_uses_limit:
            raise InvalidRequest(name, "must be an integer from 1 to %d" % max_uses_limit)
        return raw
    if isinstance(raw, bool) or not isinstance(raw, (str, int, float)):
        raise InvalidRequest(name, "must be a time (RFC 3339, or epoch seconds)")
    try:
        return timefmt.to_ms(raw, tz)
    except ValueError as exc:
        raise InvalidRequest(name, str(exc)) from None


def attributes_of(params, tz, now_ms, max_uses_limit):
    """The row attributes every imported code gets, from `valid_from` (default now),
    `valid_until` (default never; after valid_from), `max_uses` (default 1) and `metadata`
    (default none: a redemption answers it, as for a generated code)."""
    unknown = sorted(set(params) - set(IMPORT_FIELDS))
    if unknown:
        raise InvalidRequest(
            unknown[0], "unknown field; expected codes, %s" % ", ".join(IMPORT_FIELDS)
        )
    values = {
        name: field_value(name, params[name], tz, max_uses_limit)
        for name in IMPORT_FIELDS
        if params.get(name) is not None
    }
    valid_from = values.get("valid_from", now_ms)
    valid_until = values.get("valid_until")
    if valid_until is not None and valid_until <= valid_from:
        raise InvalidRequest("valid_until", "must be after valid_from")
    return {
        "state": "UNUSED",
        "valid_from": valid_from,
        "valid_until": valid_until,
        "max_uses": values.get("max_uses", 1),
        "metadata": values.get("metadata"),
        "uses": 0,
        "created_at": now_ms,
    }


class Report(object):
    """What an import did: counts, and the first REPORTED repeats and conflicts."""

    def __init__(self, received):
        self.received = received
        self.stored = 0
        self.already_imported = 0
        self.repeated = []  # (entry, line of its first occurrence)
        self.repeated_count = 0
        self.existing = []  # entries whose key another code already has
        self.existing_count = 0
        self.lock = threading.Lock()


class Importer(object):
    """Stores a checked list of entries into `batch` over a port Store."""

    def __init__(self, store, concurrency, sleep):
        self.store = store
        self.concurrency = concurrency
        self.sleep = sleep

    def run(self, batch, entries, attributes, deadline):
        """Insert every entry's key with `attributes` (+ batch, nonce); returns a Report.

        Raises StoreUnavailable when the store fails for good; its message says how many codes
        were stored before, and that importing the same list again completes it.
        """
        report = Report(len(entries))
        first_line = {}  # type: dict
        unique = []
        for entry in entries:
            seen = first_line.get(entry.key)
            if seen is not None:
                report.repeated_count += 1
                if len(report.repeated) < REPORTED:
                    report.repeated.append((entry, seen))
                continue
            first_line[entry.key] = entry.line
            unique.append(entry)
        nonce = NONCE_PREFIX + secrets.token_hex(8)
        template = dict(attributes, batch=batch, nonce=nonce)
        chunks = [
            unique[i : i + BATCH_WRITE_LIMIT] for i in range(0, len(unique), BATCH_WRITE_LIMIT)
        ]
        errors = parallel.run_all(
            chunks,
            lambda chunk: self._write(chunk, template, batch, report, deadline),
            self.concurrency,
            stop=threading.Event(),  # a failed request: the chunks not started are left
        )
        if errors:
            error = errors[0]
            if isinstance(error, StoreUnavailable) and not isinstance(error, TableNotFound):
                error.message = (
                    "the code store is unavailable: %d of the %d codes were stored before it "
                    "failed; send the same import again to store the rest (codes already stored "
                    "are counted as already_imported, not as conflicts)"
                    % (report.stored, len(unique))
                )
            raise error
        return report

    def _write(self, chunk, template, batch, report, deadline):
        pending = chunk
        backoff = Backoff(deadline, sleep=self.sleep)
        error = None
        while pending:
            if not backoff.next():
                raise error or StoreUnavailable(reason="no time left to import")
            try:
                outcomes = self.store.insert_new([e.key for e in pending], template)
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
                continue  # a write applied without an answer shows up as ours below
            retry, taken = [], []
            for entry, outcome in zip(pending, outcomes):
                if outcome == OK:
                    with report.lock:
                        report.stored += 1
                elif outcome == CONDITION_FAILED:
                    taken.append(entry)
                else:
                    retry.append(entry)
            if taken:
                retry.extend(self._classify(taken, template["nonce"], batch, report, deadline))
            pending = retry

    def _classify(self, taken, nonce, batch, report, deadline):
        """Sort rows whose key exists: ours (an unanswered write that was applied), imported
        into this batch before (a repeated import), or someone else's code (a conflict).
        Returns the entries whose row vanished meanwhile (to write again)."""
        again = []
        for start in range(0, len(taken), BATCH_GET_LIMIT):
            part = taken[start : start + BATCH_GET_LIMIT]
            rows = self._get_many([e.key for e in part], deadline)
            for entry in part:
                row = rows.get(entry.key)
                with report.lock:
                    if row is None:
                        again.append(entry)
                    elif row.get("nonce") == nonce:
                        report.stored += 1
                    elif row.get("batch") == batch and str(row.get("nonce", "")).startswith(
                        NONCE_PREFIX
                    ):
                        report.already_imported += 1
                    else:
                        report.existing_count += 1
                        if len(report.existing) < REPORTED:
                            report.existing.append(entry)
        return again

    def _get_many(self, keys, deadline):
        backoff = Backoff(deadline, sleep=self.sleep)
        error = None
        while backoff.next():
            try:
                return self.store.get_many(keys, ["batch", "nonce"])
            except StoreUnavailable as exc:
                if not exc.retryable:
                    raise
                error = exc
        raise error or StoreUnavailable(reason="no time left to import")


def csv_text(rows):
    """CSV text of `rows` (lists of strings): for tests and tools that write import files."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for row in rows:
        writer.writerow(row)
    return out.getvalue()
