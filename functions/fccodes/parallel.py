"""One piece of work over many items on a few threads: what generate, import, the big batches'
chunks and the campaigns' scans and marks all do.

Plain Python 3.6, no store: the callers bring their own work and decide what an error means.
"""


def run_all(items, work, concurrency, stop=None):
    """Run work(item) for every item, on up to `concurrency` threads when there are several, and
    return the exceptions raised, once every item has run (or been skipped).

    With `stop` (a threading.Event) the first error sets it, and items not yet started are then
    skipped; work that loops may check it too, to give up between two requests.
    """
    errors = []

    def guarded(item):
        if stop is not None and stop.is_set():
            return
        try:
            work(item)
        except Exception as exc:  # returned to the caller, which raises or cleans up
            if stop is not None:
                stop.set()
            errors.append(exc)

    items = list(items)
    workers = min(concurrency, len(items))
    if workers <= 1:
        for item in items:
            guarded(item)
    else:
        from concurrent.futures import ThreadPoolExecutor  # only some calls need threads

        with ThreadPoolExecutor(max_workers=workers) as pool:
            for future in [pool.submit(guarded, item) for item in items]:
                future.result()
    return errors
