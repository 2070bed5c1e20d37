"""FC function `query_code`: check a code (GET /codes/{code}). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.QUERY, event, context)
