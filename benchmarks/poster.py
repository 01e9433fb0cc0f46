"""Post one body N times back to back over HTTPS (a client process for gui.py and
stats_view.py); with ``--acks FILE`` it writes the time.monotonic() of each 200 there, one a
line (the clock is the machine's: the window's process compares its own with it)."""

import asyncio
import base64
import ssl
import sys
import time

import aiohttp


async def main(url: str, ca: str, auth: str, path: str, count: int,
               acks: str | None = None) -> None:
    with open(path, "rb") as fh:
        body = fh.read()
    headers = {"Content-Type": "application/json",
               "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    ctx = ssl.create_default_context(cafile=ca)
    times = []
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.post(url, data=body, headers=headers, ssl=ctx) as resp:
                await resp.read()
                times.append(time.monotonic())
                if resp.status != 200:
                    raise SystemExit(f"answered {resp.status}")
    if acks:
        with open(acks, "w") as fh:
            fh.write("".join(f"{t!r}\n" for t in times))


if __name__ == "__main__":
    args = sys.argv[1:]
    acks = None
    if "--acks" in args:
        at = args.index("--acks")
        acks = args[at + 1]
        del args[at:at + 2]
    asyncio.run(main(args[0], args[1], args[2], args[3], int(args[4]), acks))
