"""FC function `del_code`: delete a code (DELETE /codes/{code}). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.DELETE, event, context)
