// Command goserver is the Go side of the cross-language benchmark suite: the
// chanstream server and the raw Go servers it is compared with, all speaking
// the suite's protocol (see bench/README.md).
//
// Usage:
//
//	goserver -impl chanstream [--port 0] [--tls-cert cert.pem --tls-key key.pem] [--cpuprofile cpu.prof]
//
// The implementations (-impl) are:
//
//	chanstream           listener.Listen, and the stream calls an asyncio user
//	                     writes: ReadChunk, ReadLine, ReadExactly, Write + Drain
//	chanstream-zerocopy  the same server with the calls that hand out no
//	                     memory: io.Copy(io.Discard, s) (Stream is an
//	                     io.WriterTo), ReadLineView, ReadExactlyInto, and Read
//	                     into a reused buffer
//	rawgo                net.Listener, a goroutine per connection, a 64 KiB
//	                     bufio.Reader with ReadSlice and reused buffers
//	rawgo-fresh          the same, but every read returns a newly allocated
//	                     slice: the ownership asyncio's bytes give
//
// The server listens on 127.0.0.1, prints "port N" on its standard output
// once it accepts connections, and exits on SIGTERM or SIGINT or when its
// standard input is closed. With --cpuprofile it writes a CPU profile of its
// whole life.
package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
)

// chunkSize is the size of the bulk reads: 64 KiB, asyncio's read(65536).
const chunkSize = 64 << 10

func main() {
	impl := flag.String("impl", "chanstream", "server implementation: chanstream, chanstream-zerocopy, rawgo or rawgo-fresh")
	port := flag.Int("port", 0, "TCP port to listen on, on 127.0.0.1 (0: any free port)")
	certFile := flag.String("tls-cert", "", "serve TLS with this PEM certificate (needs -tls-key)")
	keyFile := flag.String("tls-key", "", "the PEM private key of -tls-cert")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile to this file")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("goserver: ")

	var config *tls.Config
	if *certFile != "" || *keyFile != "" {
		cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
		if err != nil {
			log.Fatal(err)
		}
		config = &tls.Config{Certificates: []tls.Certificate{cert}}
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			log.Fatal(err)
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			log.Fatal(err)
		}
		defer func() {
			pprof.StopCPUProfile()
			f.Close()
		}()
	}

	addr := net.JoinHostPort("127.0.0.1", fmt.Sprint(*port))
	var (
		bound net.Addr
		stop  func()
		err   error
	)
	switch *impl {
	case "chanstream", "chanstream-zerocopy":
		bound, stop, err = serveChanstream(addr, config, *impl == "chanstream-zerocopy")
	case "rawgo", "rawgo-fresh":
		bound, stop, err = serveRaw(addr, config, *impl == "rawgo-fresh")
	default:
		err = fmt.Errorf("unknown -impl %q", *impl)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("port %d\n", bound.(*net.TCPAddr).Port)

	waitForStop()
	stop()
}

// waitForStop returns on SIGTERM or SIGINT, or once standard input is closed.
func waitForStop() {
	ctx, cancel := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer cancel()
	go func() {
		io.Copy(io.Discard, os.Stdin)
		cancel()
	}()
	<-ctx.Done()
}

// The protocol's kinds of connection: the first byte a client sends.
const (
	kindBulk   = 'B' // bytes to EOF (the client half-closes); reply: the count
	kindSized  = 'T' // an 8-byte big-endian length, then as many bytes; reply: the count
	kindLines  = 'L' // lines to EOF; reply: the number of lines
	kindFrames = 'F' // frames (4-byte big-endian length + body) to EOF; reply: the number of frames
	kindEcho   = 'E' // every line is sent back, until EOF
	kindChan   = 'C' // lines to EOF, consumed through a channel in a select; reply: the number of lines
)
