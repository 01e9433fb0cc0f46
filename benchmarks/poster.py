"""Post one body N times back to back over HTTPS (a client process for gui.py)."""

import asyncio
import base64
import ssl
import sys

import aiohttp


async def main(url: str, ca: str, auth: str, path: str, count: int) -> None:
    with open(path, "rb") as fh:
        body = fh.read()
    headers = {"Content-Type": "application/json",
               "Authorization": "Basic " + base64.b64encode(auth.encode()).decode()}
    ctx = ssl.create_default_context(cafile=ca)
    async with aiohttp.ClientSession() as session:
        for _ in range(count):
            async with session.post(url, data=body, headers=headers, ssl=ctx) as resp:
                await resp.read()
                if resp.status != 200:
                    raise SystemExit(f"answered {resp.status}")


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5])))
