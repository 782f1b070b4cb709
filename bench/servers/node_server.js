'use strict';
// The Node.js server of chanstream's cross-language benchmark.
//
// It speaks the suite's protocol (bench/README.md) the way Node servers are
// written: net.createServer (tls.createServer for TLS) and 'data' events,
// cutting lines and frames out of the Buffers as they arrive (subarray, no
// copy; Buffer.concat only for a record split across two chunks).
//
//     node node_server.js [--port 0] [--tls-cert C --tls-key K]
//
// It listens on 127.0.0.1, prints "port N" once it accepts connections, and
// exits on SIGTERM or SIGINT or when its standard input is closed.

const fs = require('fs');
const net = require('net');
const tls = require('tls');

function parseArgs(argv) {
  const args = { port: 0, tlsCert: null, tlsKey: null };
  for (let i = 0; i < argv.length; i++) {
    switch (argv[i]) {
      case '--port': args.port = Number(argv[++i]); break;
      case '--tls-cert': args.tlsCert = argv[++i]; break;
      case '--tls-key': args.tlsKey = argv[++i]; break;
      default: throw new Error(`unknown argument ${argv[i]}`);
    }
  }
  return args;
}

// Each protocol returns { data(chunk), end() } for one socket.

// bulk counts bytes to EOF and replies the count.
function bulk(socket) {
  let n = 0;
  return {
    data(chunk) { n += chunk.length; },
    end() { socket.end(`${n}\n`); },
  };
}

// sized reads an 8-byte big-endian length, counts that many bytes and
// replies the count.
function sized(socket) {
  let header = Buffer.alloc(0);
  let total = -1;
  let n = 0;
  return {
    data(chunk) {
      if (total < 0) {
        header = Buffer.concat([header, chunk]);
        if (header.length < 8) return;
        total = Number(header.readBigUInt64BE(0));
        chunk = header.subarray(8);
      }
      n += chunk.length;
      if (n >= total) socket.end(`${n}\n`);
    },
    end() { if (n < total || total < 0) socket.destroy(); },
  };
}

// lineReader calls onLine for every line ("\n" included) of the chunks it
// is given; at EOF, the last unterminated line.
function lineReader(onLine) {
  let pending = null;
  return {
    data(chunk) {
      if (pending !== null) {
        chunk = Buffer.concat([pending, chunk]);
        pending = null;
      }
      let start = 0;
      let i;
      while ((i = chunk.indexOf(10, start)) !== -1) {
        onLine(chunk.subarray(start, i + 1));
        start = i + 1;
      }
      if (start < chunk.length) pending = chunk.subarray(start);
    },
    end() {
      if (pending !== null) onLine(pending);
      pending = null;
    },
  };
}

// lines counts lines to EOF and replies the count.
function lines(socket) {
  let n = 0;
  const reader = lineReader(() => { n++; });
  return {
    data(chunk) { reader.data(chunk); },
    end() { reader.end(); socket.end(`${n}\n`); },
  };
}

// frames counts frames (a 4-byte big-endian length, then the body) to EOF
// and replies the count.
function frames(socket) {
  let pending = null;
  let n = 0;
  const onFrame = () => { n++; };
  return {
    data(chunk) {
      if (pending !== null) {
        chunk = Buffer.concat([pending, chunk]);
        pending = null;
      }
      let off = 0;
      while (chunk.length - off >= 4) {
        const size = chunk.readUInt32BE(off);
        if (chunk.length - off - 4 < size) break;
        onFrame(chunk.subarray(off + 4, off + 4 + size));
        off += 4 + size;
      }
      if (off < chunk.length) pending = chunk.subarray(off);
    },
    end() {
      if (pending !== null) socket.destroy();
      else socket.end(`${n}\n`);
    },
  };
}

// echo writes every line back until EOF.
function echo(socket) {
  const reader = lineReader((line) => { socket.write(line); });
  return {
    data(chunk) { reader.data(chunk); },
    end() { reader.end(); socket.end(); },
  };
}

const protocols = { B: bulk, T: sized, L: lines, F: frames, E: echo };

function handle(socket) {
  let proto = null;
  socket.on('data', (chunk) => {
    if (proto === null) {
      const make = protocols[String.fromCharCode(chunk[0])];
      if (!make) {
        socket.destroy();
        return;
      }
      proto = make(socket);
      chunk = chunk.subarray(1);
      if (chunk.length === 0) return;
    }
    proto.data(chunk);
  });
  socket.on('end', () => {
    if (proto) proto.end();
    else socket.end();
  });
  socket.on('error', () => {});
}

function main() {
  const args = parseArgs(process.argv.slice(2));
  // allowHalfOpen: bulk replies after the client's half-close. noDelay: the
  // echo answers at once (Node leaves Nagle on by default; Go, asyncio and
  // uvloop turn it off).
  const options = { allowHalfOpen: true, noDelay: true };
  let server;
  if (args.tlsCert) {
    options.cert = fs.readFileSync(args.tlsCert);
    options.key = fs.readFileSync(args.tlsKey);
    // The client chooses the cipher suite (AES-128-GCM from the Go client),
    // as with the Go servers: OpenSSL would otherwise pick AES-256-GCM, and
    // the servers would not do the same work.
    options.honorCipherOrder = false;
    server = tls.createServer(options, handle);
  } else {
    server = net.createServer(options, handle);
  }
  server.on('error', (err) => {
    console.error(err);
    process.exit(1);
  });
  server.listen({ host: '127.0.0.1', port: args.port, backlog: 4096 }, () => {
    process.stdout.write(`port ${server.address().port}\n`);
  });
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

main();
