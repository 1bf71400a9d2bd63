"""A LeadConduit stand-in that costs next to nothing: every POST is answered after a fixed delay.

    python -m bench.stub_leadconduit PORT [DELAY_SECONDS]

The sandbox is a Django app: on a 2-core machine that also runs PostgreSQL and the worker, it is
starved and its 200 ms turn into 300-400 ms, so a drain measured against it says more about the
machine than about the worker. This asyncio server answers `201 {"outcome": "success"}` after the
delay with almost no CPU, so the worker's own throughput shows. Loopback only; it runs until killed.
"""

import asyncio
import sys

BODY = b'{"outcome": "success", "reason": null}'
REPLY = (
    b"HTTP/1.1 201 Created\r\nContent-Type: application/json\r\nConnection: keep-alive\r\n"
    + f"Content-Length: {len(BODY)}\r\n\r\n".encode()
    + BODY
)


async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            await asyncio.sleep(delay)
            writer.write(REPLY)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def main(port: int, delay: float) -> None:
    server = await asyncio.start_server(lambda r, w: serve(r, w, delay), "127.0.0.1", port, backlog=512)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.2))
