package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	server "github.com/elastic/go-lumber/server/v2"
)

type serveOpts struct {
	addr          string
	ackDelay      time.Duration
	stallAfter    int
	stall         time.Duration
	dropAfter     int
	keepalive     time.Duration
	timeout       time.Duration
	maxWindow     uint
	quiet         bool
	decoder       string
	exitOnStdin   bool
	tlsCert       string
	tlsKey        string
	tlsClientCA   string
	tlsClientAuth string
}

type serveStats struct {
	Received       int64 `json:"received"`
	Batches        int64 `json:"batches"`
	DroppedBatches int64 `json:"dropped_batches"`
	DroppedEvents  int64 `json:"dropped_events"`
	Connections    int64 `json:"connections"`
}

func runServe(args []string) int {
	var o serveOpts
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:0", "listen address (port 0 = pick a free port)")
	fs.DurationVar(&o.ackDelay, "ack-delay", 0, "wait this long before ACKing each batch")
	fs.IntVar(&o.stallAfter, "stall-after", 0, "with --stall: hold the batch that brings the received total to >= N events")
	fs.DurationVar(&o.stall, "stall", 0, "hold that one batch this long before ACKing it (go-lumber sends ACK(0) keepalives meanwhile)")
	fs.IntVar(&o.dropAfter, "drop-after", 0, "close the connection instead of ACKing the batch that brings the received total to >= N events (once; 0 = off)")
	fs.DurationVar(&o.keepalive, "keepalive", 3*time.Second, "go-lumber keepalive: ACK(0) interval while a batch awaits its ACK (0 = none)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "go-lumber network timeout (reading a window, writing an ACK)")
	fs.UintVar(&o.maxWindow, "max-window", 10000, "largest window count accepted (go-lumber MaxWindowSize; 0 = unlimited)")
	fs.StringVar(&o.decoder, "decoder", "raw", "raw: print events exactly as received (compacted); std: go-lumber's default json.Unmarshal, printed re-encoded (sorted keys)")
	fs.BoolVar(&o.quiet, "quiet", false, "do not print events (counting only)")
	fs.BoolVar(&o.exitOnStdin, "exit-on-stdin-eof", false, "exit when stdin reaches EOF (the parent died or closed the pipe)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "server certificate PEM (enables TLS)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "server private key PEM")
	fs.StringVar(&o.tlsClientCA, "tls-client-ca", "", "CA PEM for client certificates (client auth: see --tls-client-auth)")
	fs.StringVar(&o.tlsClientAuth, "tls-client-auth", "", "required (default with --tls-client-ca), optional or none")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "serve: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if o.decoder != "raw" && o.decoder != "std" {
		fmt.Fprintln(os.Stderr, "serve: --decoder must be raw or std")
		return 2
	}
	tlsCfg, err := serverTLSConfig(o.tlsCert, o.tlsKey, o.tlsClientCA, o.tlsClientAuth)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		return 2
	}

	var ln net.Listener
	ln, err = net.Listen("tcp", o.addr)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		return 1
	}
	if tlsCfg != nil {
		ln = tls.NewListener(ln, tlsCfg)
	}
	tl := &trackingListener{Listener: ln, conns: map[string]net.Conn{}}

	sopts := []server.Option{
		server.Keepalive(o.keepalive),
		server.Timeout(o.timeout),
		server.MaxWindowSize(uint32(o.maxWindow)),
	}
	if o.decoder == "raw" {
		sopts = append(sopts, server.JSONDecoder(rawJSONDecoder))
	}
	srv, err := server.NewWithListener(tl, sopts...)
	if err != nil {
		fmt.Fprintf(os.Stderr, "serve: %v\n", err)
		return 1
	}

	out := bufio.NewWriterSize(os.Stdout, 1<<16)
	var outMu sync.Mutex
	hello, _ := json.Marshal(map[string]string{"listening": ln.Addr().String()})
	outMu.Lock()
	out.Write(hello)
	out.WriteByte('\n')
	out.Flush()
	outMu.Unlock()
	logger.Printf("serving lumberjack v2 on %s (tls=%v)", ln.Addr(), tlsCfg != nil)

	var st serveStats
	var stMu sync.Mutex
	go func() {
		stalled, dropped := false, false
		for b := range srv.ReceiveChan() {
			n := int64(len(b.Events))
			stMu.Lock()
			total := st.Received + n
			drop := o.dropAfter > 0 && !dropped && total >= int64(o.dropAfter)
			if drop {
				dropped = true
				st.DroppedBatches++
				st.DroppedEvents += n
			} else {
				st.Received = total
				st.Batches++
			}
			stall := o.stall > 0 && !stalled && total >= int64(o.stallAfter)
			if stall && !drop {
				stalled = true
			}
			stMu.Unlock()

			if drop {
				logger.Printf("dropping batch of %d events from %s: closing the connection without ACK", n, b.RemoteAddr)
				tl.closeConn(b.RemoteAddr)
				continue
			}
			if !o.quiet {
				outMu.Lock()
				for _, ev := range b.Events {
					if raw, ok := ev.(json.RawMessage); ok {
						out.Write(raw)
					} else {
						line, _ := encodeJSON(ev)
						out.Write(line)
					}
					out.WriteByte('\n')
				}
				out.Flush()
				outMu.Unlock()
			}
			if stall {
				logger.Printf("stalling batch of %d events (total %d) for %v", n, total, o.stall)
				time.Sleep(o.stall)
				logger.Printf("stall over")
			}
			if o.ackDelay > 0 {
				time.Sleep(o.ackDelay)
			}
			b.ACK()
		}
	}()

	stop := make(chan string, 2)
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { stop <- (<-sigs).String() }()
	if o.exitOnStdin {
		go func() {
			_, _ = io.Copy(io.Discard, os.Stdin)
			stop <- "stdin EOF"
		}()
	}
	reason := <-stop
	logger.Printf("shutting down (%s)", reason)
	_ = srv.Close()

	outMu.Lock()
	out.Flush()
	outMu.Unlock()
	stMu.Lock()
	st.Connections = tl.accepted()
	line, _ := json.Marshal(st)
	stMu.Unlock()
	fmt.Fprintf(os.Stderr, "%s\n", line)
	return 0
}

// rawJSONDecoder keeps each event exactly as sent (compacted to one line)
// instead of decoding it, so the output shows what was on the wire.
func rawJSONDecoder(b []byte, v interface{}) error {
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	p, ok := v.(*interface{})
	if !ok {
		return errors.New("unexpected decode target")
	}
	*p = json.RawMessage(buf.Bytes())
	return nil
}

// trackingListener remembers accepted connections by remote address so a
// batch's connection can be closed (lj.Batch carries RemoteAddr). The
// connection itself is returned unwrapped so go-lumber still sees *tls.Conn.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[string]net.Conn
	count int64
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c.RemoteAddr().String()] = c
	l.count++
	l.mu.Unlock()
	return c, nil
}

func (l *trackingListener) closeConn(remote string) {
	l.mu.Lock()
	c := l.conns[remote]
	delete(l.conns, remote)
	l.mu.Unlock()
	if c != nil {
		_ = c.Close()
	}
}

func (l *trackingListener) accepted() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.count
}
