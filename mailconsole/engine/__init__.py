"""The delivery engine: enqueue, claim, dispatch, retry, outages, scheduler."""
