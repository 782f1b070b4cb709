# An SMTP-ish client in python3 asyncio that upgrades with
# StreamWriter.start_tls (Python 3.11+). Usage: starttls_client.py PORT CAFILE
import asyncio
import ssl
import sys


async def reply(reader):
    """Read one SMTP reply (possibly multi-line) and print it."""
    while True:
        line = await reader.readline()
        print(line.decode().rstrip())
        if line[3:4] != b'-':
            return


async def main(port, cafile):
    reader, writer = await asyncio.open_connection('127.0.0.1', port)
    await reply(reader)
    writer.write(b'EHLO python.example\r\n')
    await reply(reader)
    writer.write(b'STARTTLS\r\n')
    await reply(reader)
    ctx = ssl.create_default_context(cafile=cafile)
    await writer.start_tls(ctx, server_hostname='localhost')
    print('TLS:', writer.get_extra_info('ssl_object').version())
    writer.write(b'EHLO python.example\r\n')
    await reply(reader)
    writer.write(b'QUIT\r\n')
    await reply(reader)
    writer.close()
    await writer.wait_closed()


asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
