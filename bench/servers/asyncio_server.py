#!/usr/bin/env python3
"""The asyncio (and uvloop) server of chanstream's cross-language benchmark.

It speaks the suite's protocol (bench/README.md) with asyncio's Streams,
written the way the asyncio documentation writes them: start_server, then
readexactly, readline, read(n), write + drain, close + wait_closed.

    python3 asyncio_server.py [--uvloop] [--port 0] [--tls-cert C --tls-key K]

It listens on 127.0.0.1, prints "port N" once it accepts connections, and
exits on SIGTERM or SIGINT or when its standard input is closed. --uvloop
installs uvloop's event loop policy first.
"""

import argparse
import asyncio
import os
import signal
import ssl
import sys

CHUNK = 64 * 1024  # bulk reads: read(65536)


async def bulk(reader):
    """Reads 64 KiB chunks to EOF; returns the number of bytes."""
    n = 0
    while True:
        data = await reader.read(CHUNK)
        if not data:
            return n
        n += len(data)


async def sized(reader):
    """Reads an 8-byte big-endian length, then that many bytes in 64 KiB
    chunks; returns the number of bytes."""
    total = int.from_bytes(await reader.readexactly(8), "big")
    n = 0
    while n < total:
        data = await reader.read(min(CHUNK, total - n))
        if not data:
            raise asyncio.IncompleteReadError(b"", total - n)
        n += len(data)
    return n


async def lines(reader):
    """Reads lines to EOF; returns how many there were."""
    n = 0
    while True:
        line = await reader.readline()
        if not line:
            return n
        n += 1


async def frames(reader):
    """Reads frames (a 4-byte big-endian length, then the body) to EOF;
    returns how many there were."""
    n = 0
    while True:
        try:
            header = await reader.readexactly(4)
        except asyncio.IncompleteReadError as e:
            if e.partial:
                raise
            return n
        await reader.readexactly(int.from_bytes(header, "big"))
        n += 1


COUNTERS = {b"B": bulk, b"T": sized, b"L": lines, b"F": frames}


async def echo(reader, writer):
    """Writes every line back until EOF."""
    while True:
        line = await reader.readline()
        if not line:
            return
        writer.write(line)
        await writer.drain()


async def handle(reader, writer):
    try:
        kind = await reader.readexactly(1)
        if kind == b"E":
            await echo(reader, writer)
        elif kind in COUNTERS:
            n = await COUNTERS[kind](reader)
            writer.write(b"%d\n" % n)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()
        try:
            await writer.wait_closed()
        except (ConnectionError, ssl.SSLError):
            pass


async def serve(args):
    context = None
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        # The client chooses the cipher suite (AES-128-GCM from the Go
        # client), as with the Go servers: with the server's preference,
        # OpenSSL picks AES-256-GCM and the servers would not do the same work.
        context.options &= ~ssl.OP_CIPHER_SERVER_PREFERENCE
    server = await asyncio.start_server(
        handle, "127.0.0.1", args.port, ssl=context, backlog=4096)
    print("port %d" % server.sockets[0].getsockname()[1], flush=True)

    loop = asyncio.get_running_loop()
    stop = loop.create_future()

    def done():
        if not stop.done():
            stop.set_result(None)

    def stdin_readable():
        if not os.read(sys.stdin.fileno(), 4096):
            done()

    loop.add_signal_handler(signal.SIGTERM, done)
    loop.add_signal_handler(signal.SIGINT, done)
    loop.add_reader(sys.stdin.fileno(), stdin_readable)
    await stop
    loop.remove_reader(sys.stdin.fileno())
    server.close()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uvloop", action="store_true",
                        help="install uvloop's event loop policy")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--tls-cert")
    parser.add_argument("--tls-key")
    args = parser.parse_args()
    if args.uvloop:
        import uvloop
        asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    asyncio.run(serve(args))


if __name__ == "__main__":
    main()
