# A python3 asyncio server that upgrades each connection with
# StreamWriter.start_tls after a STARTTLS line, then echoes one line.
# Usage: starttls_server.py CERTFILE KEYFILE  (prints "port N" when ready)
import asyncio
import ssl
import sys

ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
ctx.load_cert_chain(sys.argv[1], sys.argv[2])


async def handle(reader, writer):
    line = await reader.readline()
    if line != b'STARTTLS\r\n':
        writer.write(b'500 want STARTTLS\r\n')
        writer.close()
        return
    writer.write(b'220 go ahead\r\n')
    await writer.drain()
    await writer.start_tls(ctx)
    data = await reader.readline()
    writer.write(b'echo over ' + writer.get_extra_info('ssl_object').version().encode() + b': ' + data)
    await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main():
    server = await asyncio.start_server(handle, '127.0.0.1', 0)
    print('port', server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()

asyncio.run(main())
