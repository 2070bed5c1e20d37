"""FC function `admin_code`: disable, enable or roll back a code, and who redeemed it
(POST /codes/{code}/disable|enable|rollback, GET /codes/{code}/redemptions; a direct invoke
names one with `action`). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.CODE_ADMIN, event, context)
