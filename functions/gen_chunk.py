"""FC function `gen_chunk`: the worker of big batches, invoked asynchronously only (by gen_code,
by itself, and by batch_code for a batch past its deadline; never through API Gateway). See
docs/functions.md, "Millions of codes"."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.work(event, context)
