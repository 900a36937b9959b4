"""Starting a stage's own web site (aiohttp) inside its worker."""

from __future__ import annotations

from aiohttp import web


async def start_site(app: web.Application, host: str, port: int) -> web.AppRunner:
    """Serve `app` on host:port until the returned runner is cleaned up (no access log: the
    stages log what they decide, with ids, never a URL that may carry one)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner
