"""FC function `import_code`: import existing codes into a batch (POST /batches/{batch}/import).

See docs/functions.md.
"""

from fccodes import app


def initializer(context):
    app.initialize(context)


def handler(event, context):
    return app.handle(app.IMPORT, event, context)
