"""Running the async Listmonk client from the sync service functions.

The services are plain sync functions (the console calls them in thread workers, the CLI calls
them directly), but the Listmonk client is async. Each service call runs its coroutine in a
private event loop with its own HTTP client, closed at the end: an `httpx.AsyncClient` belongs
to the loop that made it, so nothing is shared between calls. Called from a thread that already
runs a loop (an async test, a careless caller), the coroutine runs in a helper thread instead of
failing with "asyncio.run() cannot be called from a running event loop".
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

from mailconsole.context import AppContext
from mailconsole.listmonk import ListmonkClient, client_from_context

T = TypeVar("T")


def run_coroutine(coro: Coroutine[Any, Any, T]) -> T:
    """Run `coro` to completion from sync code, whatever the calling thread is doing."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="listmonk") as pool:
        return pool.submit(asyncio.run, coro).result()


def with_client(ctx: AppContext, work: Callable[[ListmonkClient], Awaitable[T]]) -> T:
    """`await work(client)` with a fresh client for the configured Listmonk account."""

    async def main() -> T:
        client = client_from_context(ctx)
        try:
            return await work(client)
        finally:
            await client.aclose()

    return run_coroutine(main())
