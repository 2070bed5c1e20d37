"""The edge: one instance-wide Runtime, and `handle`, which every FC handler calls.

`handle` decodes the event, runs one service call, renders the result or the error, and writes
one log line. Configuration and credentials are read here (and only here) from the environment
and the FC context. Tests install their own Runtime with `configure` (a real store aimed at the
local Tablestore, an injected clock or random source).
"""

import json
import logging
import os
import threading
import time
import traceback

from . import api, codes, events, fcinvoke, importing, log, params, tutorial
from .asyncgen import AsyncStarted
from .errors import InvalidRequest, ServiceError, StoreUnavailable, TableNotFound
from .retry import Deadline
from .service import CodeService
from .settings import Settings, credentials_from
from .store import BatchTable, ClientFactory, CodeStore

# A key of the log fields that carries the service's result to the tutorial's answer; never logged.
RESULT = "_result"
DEFAULT_TIMEOUT = 60.0  # seconds, when the context does not say (FC always does)
TIME_SHARE = 0.9  # of the function timeout: the rest is for answering before FC kills us


class Runtime(object):
    """Everything built once per instance: settings, client factory, store, service.

    `store`, `batches` and `service` hold no credentials: each invocation works on
    `session(credentials, context)`, so concurrent invocations of one instance never see each
    other's. `dispatcher(credentials, context)` builds what queues the worker's invocations of a
    big batch (default: FC's async invoke API, `fccodes.fcinvoke`; tests inject their own).
    """

    def __init__(self, settings, factory=None, dispatcher=None, **service_options):
        self.settings = settings
        self.dispatcher = dispatcher or _fc_dispatcher(settings)
        self.factory = factory or ClientFactory(
            settings.ots_endpoint,
            settings.ots_instance,
            settings.ots_timeout,
            max_connections=max(16, 2 * settings.gen_concurrency),
        )
        self.store = CodeStore(self.factory, settings.table)
        self.batches = BatchTable(self.factory, settings.batches_table)
        self.service = CodeService(
            self.store,
            settings.code_length,
            settings.gen_concurrency,
            batches=self.batches,
            max_sync=settings.max_codes_per_request if settings.asynchronous else None,
            chunk_size=settings.chunk_size,
            gen_deadline_ms=settings.gen_deadline * 1000,
            **service_options,
        )

    def session(self, credentials, context=None):
        """The service for one invocation, its store requests (and invocations of the worker)
        signed with `credentials`."""
        dispatcher = None
        if self.settings.gen_worker:
            dispatcher = self.dispatcher(credentials, context)
        return self.service.using(
            self.store.signed(credentials), self.batches.signed(credentials), dispatcher
        )

    @classmethod
    def from_env(cls, environ=None):
        return cls(Settings.from_env(os.environ if environ is None else environ))


def _fc_dispatcher(settings):
    """Dispatchers over FC's invoke API: the INVOKE_ENDPOINT setting, else the account's
    internal endpoint in the function's region (from the context)."""

    def build(credentials, context):
        endpoint = fcinvoke.endpoint_for(
            settings.invoke_endpoint,
            getattr(context, "account_id", None),
            getattr(context, "region", None),
        )
        return fcinvoke.Dispatcher(endpoint, credentials, settings.gen_worker)

    def lazy(credentials, context):
        return _Lazy(lambda: build(credentials, context))

    return lazy


class _Lazy(object):
    """A dispatcher built on first use: an unknown endpoint is an error only for a call that
    sends (WORKER_UNAVAILABLE), not for every call of a function that may send."""

    def __init__(self, build):
        self.build = build
        self.built = None

    def send(self, event):
        if self.built is None:
            self.built = self.build()
        return self.built.send(event)


class _Instance(object):
    runtime = None  # type: Runtime | None
    lock = threading.Lock()


def runtime():
    """The instance's Runtime, built from the environment on first use."""
    built = _Instance.runtime
    if built is not None:  # every call but the first: no lock for concurrent calls to queue on
        return built
    with _Instance.lock:
        if _Instance.runtime is None:
            log.setup()
            _Instance.runtime = Runtime.from_env()
        return _Instance.runtime


def configure(new_runtime):
    """Install a Runtime (tests, local tools); None drops it so the next call rebuilds."""
    with _Instance.lock:
        _Instance.runtime = new_runtime


def initialize(context):
    """FC initializer: build the Runtime and the client now, and fail loudly if misconfigured."""
    log.setup()
    current = runtime()
    current.factory.client(credentials_from(context, os.environ))


class Operation(object):
    """What a handler serves: its declaration (`fccodes.api`), route and the call between decode
    and render.

    `run(rt, service, incoming, deadline, fields)` returns (status, body) or an events.CSV;
    `service` is this invocation's (its credentials), `fields` the log line's extra fields.
    A direct invoke of a function with several operations names one by its declared `action`.
    """

    def __init__(self, declared, run, raw=False, max_body=None):
        self.declared = declared
        self.name = declared.name
        self.route = events.Route(
            declared.method,
            declared.path,
            query=bool(declared.query),
            raw=raw,
            max_body=max_body,
        )
        self.run = run
        self.action = declared.action
        self.operations = [self]
        self.routes = [self.route]


class Function(object):
    """A handler module serving several operations: a gateway request picks one by method and
    path; a direct invoke by its `action` field."""

    def __init__(self, name, operations):
        self.name = name
        self.operations = operations
        self.routes = [op.route for op in operations]
        self.route = None


def _generate(rt, service, incoming, deadline, fields):
    request = params.parse_generate(incoming.params, rt.settings, service.clock(), incoming.headers)
    fields["count"] = request.count
    result = service.generate(request, deadline)
    fields["batch"] = result.batch
    if result.replay:
        fields["replay"] = True
    if isinstance(result, AsyncStarted):  # a big batch: its state, at once
        fields["asynchronous"] = True
        return 202, events.async_batch_body(result, rt.settings.timezone)
    return (200 if result.replay else 201), events.generated_body(result, rt.settings.timezone)


def _redeem(rt, service, incoming, deadline, fields):
    request = params.parse_redeem(incoming.params, incoming.path_code, rt.settings.imported_codes)
    result = service.redeem(request, deadline)
    fields["replay"] = result.replay
    return 200, events.redeemed_body(result, rt.settings.timezone)


def _query(rt, service, incoming, deadline, fields):
    key = params.parse_lookup(incoming.params, incoming.path_code, rt.settings.imported_codes)
    info = service.query(key, deadline)
    fields[RESULT] = info
    return 200, events.info_body(info, rt.settings.timezone)


def _delete(rt, service, incoming, deadline, fields):
    key = params.parse_lookup(incoming.params, incoming.path_code, rt.settings.imported_codes)
    return 200, events.deleted_body(key, service.delete(key, deadline))


def _show_batch(rt, service, incoming, deadline, fields):
    request = params.parse_batch(incoming.params, incoming.path_batch)
    fields["batch"] = request.batch
    info = service.batch_info(request.batch, deadline)
    return 200, events.batch_body(info, rt.settings.timezone)


def _list_batch(rt, service, incoming, deadline, fields):
    request = params.parse_batch(incoming.params, incoming.path_batch, listing=True)
    fields["batch"] = request.batch
    record, page = service.batch_codes(request, deadline)
    fields["count"] = len(page.items)
    if incoming.accepts("text/csv"):
        return events.CSV(events.codes_csv(request.batch, record, page, rt.settings.timezone))
    return 200, events.codes_page_body(request.batch, record, page, rt.settings.timezone)


def _batch_switch(disabled):
    def run(rt, service, incoming, deadline, fields):
        request = params.parse_batch(incoming.params, incoming.path_batch)
        fields["batch"] = request.batch
        record = service.set_batch_disabled(request.batch, disabled, deadline)
        return 200, events.switched_batch_body(request.batch, record)

    return run


def _code_switch(disabled):
    def run(rt, service, incoming, deadline, fields):
        key = params.parse_lookup(incoming.params, incoming.path_code)
        info = service.set_code_disabled(key, disabled, deadline)
        return 200, events.info_body(info, rt.settings.timezone)

    return run


def _rollback(rt, service, incoming, deadline, fields):
    request = params.parse_rollback(incoming.params, incoming.path_code)
    info, done = service.rollback(request, deadline)
    fields["rolled_back"] = done
    return 200, events.rolled_back_body(info, done, rt.settings.timezone)


def _redemptions(rt, service, incoming, deadline, fields):
    request = params.parse_redemptions(incoming.params, incoming.path_code)
    prefix, page = service.redemptions(request, deadline)
    return 200, events.redemptions_body(request.key, prefix, page, rt.settings.timezone)


def _import(rt, service, incoming, deadline, fields):
    if incoming.body is not None:  # through a gateway: CSV or JSON
        entries, options = importing.parse_body(incoming.body, incoming.content_type)
        # The validity may come from the query string (the only place for a CSV file's); a
        # JSON object's own fields win.
        for name in importing.IMPORT_FIELDS:
            if incoming.query.get(name) is not None:
                importing.field_value(
                    name, incoming.query[name], rt.settings.timezone, api.MAX_USES
                )
                options.setdefault(name, incoming.query[name])
        batch = params.parse_batch_label(incoming.path_batch)
    else:  # a direct invoke: the parameters, with `batch` among them
        options = dict(incoming.params)
        batch = params.parse_batch_label(options.pop("batch", None))
        entries = importing.parse_json_list(options.pop("codes", None))
    fields["batch"] = batch
    fields["count"] = len(entries)
    now = service.clock()
    attributes = importing.attributes_of(options, rt.settings.timezone, now, api.MAX_USES)
    importer = importing.Importer(service.store, rt.settings.gen_concurrency, service.sleep)
    report = importer.run(batch, entries, attributes, deadline)
    fields["stored"] = report.stored
    return 200, events.imported_body(batch, report, attributes, rt.settings.timezone)


GENERATE = Operation(api.GENERATE, _generate)
REDEEM = Operation(api.REDEEM, _redeem)
QUERY = Operation(api.QUERY, _query)
DELETE = Operation(api.DELETE, _delete)
IMPORT = Operation(api.IMPORT, _import, raw=True, max_body=api.MAX_IMPORT_BYTES)
BATCH = Function(
    "batch",
    [
        Operation(api.BATCH_CODES, _list_batch),
        Operation(api.BATCH_DISABLE, _batch_switch(True)),
        Operation(api.BATCH_ENABLE, _batch_switch(False)),
        Operation(api.BATCH_SHOW, _show_batch),
    ],
)
CODE_ADMIN = Function(
    "code_admin",
    [
        Operation(api.CODE_DISABLE, _code_switch(True)),
        Operation(api.CODE_ENABLE, _code_switch(False)),
        Operation(api.ROLLBACK, _rollback),
        Operation(api.REDEMPTIONS, _redemptions),
    ],
)


def pick(function, incoming):
    """The operation an invocation asks for (direct invokes of several: the `action` field)."""
    if incoming.route is not None:
        for operation in function.operations:
            if operation.route is incoming.route:
                return operation
    actions = [op.action for op in function.operations]
    given = incoming.params.pop("action", None)
    for operation in function.operations:
        if operation.action == given:
            return operation
    raise InvalidRequest("action", "must be one of %s" % ", ".join(actions))


def handle(function, event, context):
    """Serve one invocation of `function` (an Operation, or a Function of several); never
    raises, always answers and logs once."""
    started = time.monotonic()
    request_id = getattr(context, "request_id", None) or ""
    fields = {"request_id": request_id, "operation": function.name}
    shape = None  # decoded with the event; guessed from the raw event only to render an error
    level = logging.INFO
    incoming = rt = error = None
    try:
        incoming = events.decode_any(event, function.routes)
        shape = incoming.shape
        operation = pick(function, incoming)
        fields["operation"] = operation.name
        raw_code = incoming.path_code or params.raw_code(incoming.params)
        if raw_code:
            fields["code"] = codes.mask(raw_code)
        rt = runtime()
        service = rt.session(credentials_from(context, os.environ), context)
        deadline = _deadline(context, rt.settings.ots_timeout)
        result = operation.run(rt, service, incoming, deadline, fields)
        if isinstance(result, events.CSV):
            status = 200
            response = events.render_csv(shape, result)
        else:
            status, body = result
            response = events.render(shape, status, body)
        fields["outcome"] = "ok"
    except ServiceError as exc:
        error = exc
        status = exc.status
        shape = shape or events.shape_of(event)
        response = events.render_error(shape, exc, request_id)
        fields["outcome"] = exc.code
        fields["message"] = exc.message
        if isinstance(exc, StoreUnavailable):
            # A missing table is the operator's to fix (an error), the rest a passing fault.
            level = logging.ERROR if exc.code == TableNotFound.code else logging.WARNING
            fields["store_error"] = exc.reason
            if exc.cleanup_complete is not None:
                fields["cleanup_complete"] = exc.cleanup_complete
    except Exception as exc:  # a bug or a misconfiguration: the log says what, the body nothing
        status = 500
        shape = shape or events.shape_of(event)
        response = events.render_error(shape, ServiceError(), request_id)
        fields["outcome"] = ServiceError.code
        fields["error"] = "%s: %s" % (type(exc).__name__, exc)
        fields["traceback"] = traceback.format_exc()
        level = logging.ERROR
    served = fields.pop(RESULT, None)
    if (
        shape == events.DIRECT
        and rt is not None
        and rt.settings.tutorial_answers
        and tutorial.in_tutorial_shape(fields["operation"], incoming and incoming.params)
    ):
        word = tutorial.answer(fields["operation"], served, error, rt.service.clock())
        if word is not None:
            response = word
            fields["tutorial_answer"] = word
    fields["status"] = status
    fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
    log.emit(fields, level)
    return response


def work(event, context):
    """Serve one event of the worker (`gen_chunk`, invoked asynchronously only: fccodes.asyncgen).

    Returns the outcome as JSON; raises when FC should run the event again (a store failure,
    a bug), after logging it. A malformed event is logged and answered, never retried.
    """
    started = time.monotonic()
    request_id = getattr(context, "request_id", None) or ""
    fields = {"request_id": request_id, "operation": api.GEN_WORKER.name}
    level = logging.INFO
    try:
        try:
            data = json.loads(event.decode("utf-8") if isinstance(event, bytes) else event)
        except (ValueError, UnicodeDecodeError):
            raise InvalidRequest(None, "a worker event is JSON") from None
        rt = runtime()
        service = rt.session(credentials_from(context, os.environ), context)
        timeout = _timeout(context)
        deadline = Deadline(timeout * TIME_SHARE, request_timeout=rt.settings.ots_timeout)
        outcome = service.work(data, request_id, int(timeout * 1000), deadline)
        fields.update(outcome.fields)
        fields["outcome"] = "ok"
        return json.dumps(outcome.fields, sort_keys=True)
    except InvalidRequest as exc:
        fields["outcome"] = exc.code
        fields["message"] = exc.message
        level = logging.WARNING
        return json.dumps({"error": exc.message})
    except Exception as exc:  # FC's retry policy runs the event again
        fields["outcome"] = getattr(exc, "code", ServiceError.code)
        fields["error"] = "%s: %s" % (type(exc).__name__, exc)
        if isinstance(exc, StoreUnavailable):
            fields["store_error"] = exc.reason
            level = logging.WARNING
        else:
            fields["traceback"] = traceback.format_exc()
            level = logging.ERROR
        raise
    finally:
        fields["duration_ms"] = round((time.monotonic() - started) * 1000, 1)
        log.emit(fields, level)


def _timeout(context):
    function = getattr(context, "function", None)
    if isinstance(function, dict):
        timeout = function.get("timeout")
    else:
        timeout = getattr(function, "timeout", None)
    return float(timeout or DEFAULT_TIMEOUT)


def _deadline(context, request_timeout):
    return Deadline(_timeout(context) * TIME_SHARE, request_timeout=request_timeout)
