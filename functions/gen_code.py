"""FC function `gen_code`: generate a batch of codes (POST /codes). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.GENERATE, event, context)
