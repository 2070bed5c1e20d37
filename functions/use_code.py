"""FC function `use_code`: redeem a code (POST /codes/{code}/redeem). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.REDEEM, event, context)
