"""The baseline for ``ingest.py``: a bare aiohttp receiver that parses each body with orjson
and answers 200, storing nothing. Prints ``PORT <n>`` when it listens."""

import asyncio
import signal
import ssl
import sys

import orjson
from aiohttp import web


async def handle(request: web.Request) -> web.Response:
    records = orjson.loads(await request.read())
    return web.Response(text=f'{{"records": {len(records)}}}', content_type="application/json")


async def main(cert: str, key: str) -> None:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(cert, key)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/{tail:.*}", handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ctx)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
