"""FC function `batch_code`: a batch's record and figures, its codes, disable and enable
(GET /batches/{batch}, GET /batches/{batch}/codes, POST /batches/{batch}/disable|enable; a
direct invoke names one with `action`). See docs/functions.md."""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.BATCH, event, context)
