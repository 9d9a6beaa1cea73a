package main

import (
	"bytes"
	"crypto/tls"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	v2 "github.com/elastic/go-lumber/client/v2"
)

type sendOpts struct {
	addr        string
	count       int
	window      int
	mode        string
	pipelining  int
	compression int
	timeout     time.Duration
	size        int
	prefix      string
	partial     string
	backoff     time.Duration
	backoffMax  time.Duration
	maxRetries  int
	progress    time.Duration
	hostName    string
	padding     string

	tlsCA, tlsCert, tlsKey, tlsServerName string
	tlsInsecure                           bool
}

// window is one lumberjack window: events first..first+len(events)-1.
type window struct {
	first   int
	events  []interface{}
	resend  bool          // carries events that were already sent once
	partial atomic.Uint32 // highest non-zero ACK seen on the wire for this window
}

type sender struct {
	o      sendOpts
	tlsCfg *tls.Config
	eb     *eventBuilder
	copts  []v2.Option

	mu        sync.Mutex
	cond      *sync.Cond
	next      int // next fresh event number
	acked     int
	retry     []*window
	gen       int // connection generation, bumped on every successful dial
	failedGen int // generation of the last connection that failed

	windows, resends, resentEvents, errors, connections int64
	keepalives, partialAcks, badFrames                  atomic.Int64

	failStreak      int
	ackedAtLastFail int
	delay           time.Duration
}

type sendSummary struct {
	Sent         int     `json:"sent"`
	Acked        int     `json:"acked"`
	Windows      int64   `json:"windows"`
	Resends      int64   `json:"resends"`
	ResentEvents int64   `json:"resent_events"`
	Errors       int64   `json:"errors"`
	Connections  int64   `json:"connections"`
	Keepalives   int64   `json:"keepalives"`
	PartialAcks  int64   `json:"partial_acks"`
	ElapsedS     float64 `json:"elapsed_s"`
	EventsPerS   float64 `json:"events_per_s"`
	Mode         string  `json:"mode"`
	Window       int     `json:"window"`
	Pipelining   int     `json:"pipelining"`
	Compression  int     `json:"compression"`
	TLS          bool    `json:"tls"`
}

func runSend(args []string) int {
	var o sendOpts
	fs := flag.NewFlagSet("send", flag.ContinueOnError)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:5044", "server address HOST:PORT")
	fs.IntVar(&o.count, "count", 1000, "number of events to send (numbered 1..count)")
	fs.IntVar(&o.window, "window", 2048, "events per window (Filebeat bulk_max_size)")
	fs.StringVar(&o.mode, "mode", "async", "sync (v2.SyncClient) or async (v2.AsyncClient)")
	fs.IntVar(&o.pipelining, "pipelining", 2, "async mode: Filebeat's pipelining setting; AsyncClient queue = pipelining-1")
	fs.IntVar(&o.compression, "compression", 3, "zlib compression level 0..9 (0 = uncompressed J frames)")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Second, "go-lumber client timeout (dial, write, each ACK read)")
	fs.IntVar(&o.size, "size", 0, "pad the message so each encoded JSON event is this many bytes (0 = no padding)")
	fs.StringVar(&o.padding, "padding", "words", "padding text: words (pseudo-random words, log-like compressibility) or x (xxxx..., compresses extremely well)")
	fs.StringVar(&o.prefix, "prefix", "golumber", "message prefix: message is \"<prefix> <n>[ xxx...]\"")
	fs.StringVar(&o.partial, "partial", "tracked", "progress credited when a window fails: tracked (highest ACK seen on the wire) or libbeat (value returned by go-lumber)")
	fs.DurationVar(&o.backoff, "backoff", 100*time.Millisecond, "initial delay before reconnecting after an error")
	fs.DurationVar(&o.backoffMax, "backoff-max", 2*time.Second, "maximum reconnect delay")
	fs.IntVar(&o.maxRetries, "max-retries", 10, "give up after this many consecutive failures without progress (0 = never)")
	fs.DurationVar(&o.progress, "progress", 5*time.Second, "interval of progress lines on stderr (0 = off)")
	fs.StringVar(&o.hostName, "host-name", "", "value of host.name in events (default: os.Hostname)")
	fs.StringVar(&o.tlsCA, "tls-ca", "", "CA certificate(s) PEM to verify the server (enables TLS)")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "client certificate PEM (enables TLS)")
	fs.StringVar(&o.tlsKey, "tls-key", "", "client private key PEM")
	fs.StringVar(&o.tlsServerName, "tls-server-name", "", "name to verify in the server certificate (default: host of --addr; enables TLS)")
	fs.BoolVar(&o.tlsInsecure, "tls-insecure", false, "TLS without server certificate verification (enables TLS)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(os.Stderr, "send: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if err := o.validate(); err != nil {
		fmt.Fprintf(os.Stderr, "send: %v\n", err)
		return 2
	}
	tlsCfg, err := clientTLSConfig(o.addr, o.tlsCA, o.tlsCert, o.tlsKey, o.tlsServerName, o.tlsInsecure)
	if err != nil {
		fmt.Fprintf(os.Stderr, "send: %v\n", err)
		return 2
	}
	if o.hostName == "" {
		o.hostName, _ = os.Hostname()
	}

	s := &sender{
		o:      o,
		tlsCfg: tlsCfg,
		eb:     newEventBuilder(o.prefix, o.hostName, o.size, o.padding == "words"),
		next:   1,
		delay:  o.backoff,
		copts: []v2.Option{
			v2.Timeout(o.timeout),
			v2.CompressionLevel(o.compression),
			v2.JSONEncoder(encodeEvent),
		},
	}
	s.cond = sync.NewCond(&s.mu)

	start := time.Now()
	stopProgress := s.startProgress(start)
	if o.mode == "sync" {
		s.runSync()
	} else {
		s.runAsync()
	}
	elapsed := time.Since(start)
	stopProgress()

	s.mu.Lock()
	sum := sendSummary{
		Sent:         s.next - 1,
		Acked:        s.acked,
		Windows:      s.windows,
		Resends:      s.resends,
		ResentEvents: s.resentEvents,
		Errors:       s.errors,
		Connections:  s.connections,
		Keepalives:   s.keepalives.Load(),
		PartialAcks:  s.partialAcks.Load(),
		ElapsedS:     round3(elapsed.Seconds()),
		Mode:         o.mode,
		Window:       o.window,
		Compression:  o.compression,
		TLS:          tlsCfg != nil,
	}
	s.mu.Unlock()
	if o.mode == "async" {
		sum.Pipelining = o.pipelining
	}
	if elapsed > 0 {
		sum.EventsPerS = round3(float64(sum.Acked) / elapsed.Seconds())
	}
	if n := s.badFrames.Load(); n > 0 {
		logger.Printf("%d malformed ACK frames received", n)
	}
	line, _ := json.Marshal(sum)
	fmt.Fprintf(os.Stdout, "%s\n", line)
	if sum.Acked != o.count {
		logger.Printf("FAILED: %d of %d events acked", sum.Acked, o.count)
		return 1
	}
	return 0
}

func (o *sendOpts) validate() error {
	switch {
	case o.count < 0:
		return fmt.Errorf("--count must be >= 0")
	case o.window < 1:
		return fmt.Errorf("--window must be >= 1")
	case o.mode != "sync" && o.mode != "async":
		return fmt.Errorf("--mode must be sync or async")
	case o.pipelining < 1:
		return fmt.Errorf("--pipelining must be >= 1")
	case o.compression < 0 || o.compression > 9:
		return fmt.Errorf("--compression must be within 0..9")
	case o.partial != "tracked" && o.partial != "libbeat":
		return fmt.Errorf("--partial must be tracked or libbeat")
	case o.padding != "words" && o.padding != "x":
		return fmt.Errorf("--padding must be words or x")
	case o.size < 0:
		return fmt.Errorf("--size must be >= 0")
	case o.timeout <= 0:
		return fmt.Errorf("--timeout must be > 0")
	}
	return nil
}

func round3(f float64) float64 {
	v, _ := strconv.ParseFloat(strconv.FormatFloat(f, 'f', 3, 64), 64)
	return v
}

func (s *sender) startProgress(start time.Time) func() {
	if s.o.progress <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(s.o.progress)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				s.mu.Lock()
				acked, errs := s.acked, s.errors
				s.mu.Unlock()
				el := time.Since(start).Seconds()
				logger.Printf("progress: acked %d/%d (%.0f ev/s), errors %d, keepalives %d",
					acked, s.o.count, float64(acked)/el, errs, s.keepalives.Load())
			}
		}
	}()
	return func() { close(done); wg.Wait() }
}

// dial connects (and completes the TLS handshake, so TLS failures surface
// here) and wraps the connection so ACK frames can be observed.
func (s *sender) dial() (*ackConn, error) {
	d := net.Dialer{Timeout: s.o.timeout}
	c, err := d.Dial("tcp", s.o.addr)
	if err != nil {
		return nil, err
	}
	if s.tlsCfg != nil {
		tc := tls.Client(c, s.tlsCfg)
		_ = tc.SetDeadline(time.Now().Add(s.o.timeout))
		if err := tc.Handshake(); err != nil {
			_ = c.Close()
			return nil, fmt.Errorf("TLS handshake: %w", err)
		}
		_ = tc.SetDeadline(time.Time{})
		c = tc
	}
	s.mu.Lock()
	s.connections++
	s.gen++
	s.mu.Unlock()
	logger.Printf("connected to %s (local %s)", c.RemoteAddr(), c.LocalAddr())
	return &ackConn{Conn: c, s: s}, nil
}

// takeWindowLocked returns the next window to send: failed remainders first,
// then fresh events. Returns nil when there is nothing to send.
func (s *sender) takeWindowLocked() *window {
	var w *window
	if len(s.retry) > 0 {
		w = s.retry[0]
		s.retry = s.retry[1:]
	} else if s.next <= s.o.count {
		n := s.o.window
		if rest := s.o.count - s.next + 1; rest < n {
			n = rest
		}
		w = &window{first: s.next, events: s.eb.build(s.next, n)}
		s.next += n
	} else {
		return nil
	}
	s.windows++
	if w.resend {
		s.resends++
		s.resentEvents += int64(len(w.events))
	}
	return w
}

// completeLocked accounts for a finished window: seq is the progress
// reported by go-lumber, err its error.
func (s *sender) completeLocked(w *window, seq uint32, err error) {
	n := len(w.events)
	if err == nil && int(seq) >= n {
		s.acked += n
		return
	}
	p := int(seq)
	if s.o.partial == "tracked" {
		if tp := int(w.partial.Load()); tp > p {
			p = tp
		}
	}
	if p > n {
		p = n
	}
	s.acked += p
	if p > 0 {
		logger.Printf("window %d..%d failed after %d events acked, resending the remaining %d",
			w.first, w.first+n-1, p, n-p)
	}
	if p < n {
		s.retry = append(s.retry, &window{first: w.first + p, events: w.events[p:], resend: true})
	}
}

func (s *sender) markFailedLocked(err error, gen int) {
	if gen > s.failedGen {
		s.failedGen = gen
		s.errors++
		logger.Printf("connection failed: %v", err)
	}
}

// waitBeforeRetry sleeps with exponential backoff; false means give up.
func (s *sender) waitBeforeRetry() bool {
	s.mu.Lock()
	if s.acked > s.ackedAtLastFail {
		s.failStreak = 0
		s.delay = s.o.backoff
	}
	s.ackedAtLastFail = s.acked
	s.failStreak++
	streak := s.failStreak
	s.mu.Unlock()
	if s.o.maxRetries > 0 && streak > s.o.maxRetries {
		logger.Printf("giving up after %d consecutive failures without progress", streak)
		return false
	}
	time.Sleep(s.delay)
	s.delay *= 2
	if s.delay > s.o.backoffMax {
		s.delay = s.o.backoffMax
	}
	return true
}

func (s *sender) connectFailed(err error) bool {
	s.mu.Lock()
	s.errors++
	s.mu.Unlock()
	logger.Printf("connect %s: %v", s.o.addr, err)
	return s.waitBeforeRetry()
}

// runSync mirrors libbeat's syncClient: send one window, wait for its ACK,
// on error reconnect and resend what was not acknowledged.
func (s *sender) runSync() {
	var cl *v2.SyncClient
	var conn *ackConn
	defer func() {
		if cl != nil {
			_ = cl.Close()
		}
	}()
	for {
		s.mu.Lock()
		done := s.acked >= s.o.count
		s.mu.Unlock()
		if done {
			return
		}
		if cl == nil {
			c, err := s.dial()
			if err != nil {
				if !s.connectFailed(err) {
					return
				}
				continue
			}
			conn = c
			cl, _ = v2.NewSyncClientWithConn(c, s.copts...)
		}
		s.mu.Lock()
		w := s.takeWindowLocked()
		s.mu.Unlock()
		conn.expect(w)
		n, err := cl.Send(w.events)
		s.mu.Lock()
		s.completeLocked(w, uint32(n), err)
		if err != nil {
			s.markFailedLocked(err, s.gen)
		}
		s.mu.Unlock()
		if err != nil {
			_ = cl.Close()
			cl = nil
			if !s.waitBeforeRetry() {
				return
			}
		}
	}
}

// runAsync mirrors libbeat's asyncClient: windows are written while earlier
// ones are still waiting for their ACK (AsyncClient queue = pipelining-1);
// callbacks requeue whatever a failed window did not get acknowledged.
func (s *sender) runAsync() {
	var cl *v2.AsyncClient
	var conn *ackConn
	for {
		s.mu.Lock()
		for s.acked < s.o.count && !(cl != nil && s.failedGen == s.gen) && len(s.retry) == 0 && s.next > s.o.count {
			s.cond.Wait()
		}
		done := s.acked >= s.o.count
		failed := cl != nil && s.failedGen == s.gen
		s.mu.Unlock()
		if done {
			break
		}
		if failed {
			if cl != nil {
				_ = cl.Close()
				cl = nil
			}
			if !s.waitBeforeRetry() {
				return
			}
			continue
		}
		if cl == nil {
			c, err := s.dial()
			if err != nil {
				if !s.connectFailed(err) {
					return
				}
				continue
			}
			conn = c
			cl, _ = v2.NewAsyncClientWithConn(c, s.o.pipelining-1, s.copts...)
			continue
		}
		s.mu.Lock()
		w := s.takeWindowLocked()
		s.mu.Unlock()
		if w == nil {
			continue
		}
		conn.expect(w)
		s.mu.Lock()
		gen := s.gen
		s.mu.Unlock()
		if err := cl.Send(s.asyncCallback(w, gen), w.events); err != nil {
			// go-lumber also reports the error through the callback.
			s.mu.Lock()
			s.markFailedLocked(err, gen)
			s.mu.Unlock()
		}
	}
	if cl != nil {
		_ = cl.Close()
	}
}

// asyncCallback requeues what the window did not get acknowledged. gen
// guards against late callbacks: go-lumber's AsyncClient.Close can return
// before its drain loop has run the remaining callbacks (ackLoop's deferred
// wg.Done runs before the deferred drain), so an error callback may arrive
// after the failed connection was dealt with; it must not fail the next one.
func (s *sender) asyncCallback(w *window, gen int) v2.AsyncSendCallback {
	return func(seq uint32, err error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.completeLocked(w, seq, err)
		if err != nil {
			s.markFailedLocked(err, gen)
		}
		s.cond.Broadcast()
	}
}

// ackConn observes the ACK frames read by go-lumber's client to count
// keepalives (ACK 0) and partial ACKs and to remember, per window, the
// highest sequence number acknowledged.
type ackConn struct {
	net.Conn
	s *sender

	mu    sync.Mutex
	hdr   [6]byte
	nhdr  int
	queue []*window
}

func (c *ackConn) expect(w *window) {
	c.mu.Lock()
	c.queue = append(c.queue, w)
	c.mu.Unlock()
}

func (c *ackConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.observe(p[:n])
	}
	return n, err
}

func (c *ackConn) observe(b []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for len(b) > 0 {
		k := copy(c.hdr[c.nhdr:], b)
		c.nhdr += k
		b = b[k:]
		if c.nhdr < len(c.hdr) {
			return
		}
		c.nhdr = 0
		if c.hdr[0] != '2' || c.hdr[1] != 'A' {
			c.s.badFrames.Add(1)
			continue
		}
		seq := binary.BigEndian.Uint32(c.hdr[2:])
		if seq == 0 {
			c.s.keepalives.Add(1)
			continue
		}
		if len(c.queue) == 0 {
			c.s.badFrames.Add(1)
			continue
		}
		w := c.queue[0]
		if int(seq) < len(w.events) {
			c.s.partialAcks.Add(1)
			if seq > w.partial.Load() {
				w.partial.Store(seq)
			}
			continue
		}
		w.partial.Store(uint32(len(w.events)))
		c.queue = c.queue[1:]
	}
}

// encodeEvent is the go-lumber JSONEncoder: pre-encoded events pass
// through, anything else is encoded like libbeat (no HTML escaping).
func encodeEvent(v interface{}) ([]byte, error) {
	if raw, ok := v.(json.RawMessage); ok {
		return raw, nil
	}
	return encodeJSON(v)
}

func jsonEscape(s string) string {
	b, _ := encodeJSON(s)
	return string(b[1 : len(b)-1])
}

// encodeJSON encodes like libbeat's JSON codec (no HTML escaping).
func encodeJSON(v interface{}) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return b[:len(b)-1], nil
}

// eventBuilder makes Filebeat-like events.
type eventBuilder struct {
	prefixEsc, hostEsc string // JSON-escaped, without quotes
	size               int
	fixedLen           int
	pad                string
	words              []string // vocabulary for word padding; nil = pad with x
}

const timestampLayout = "2006-01-02T15:04:05.000Z"

func newEventBuilder(prefix, host string, size int, words bool) *eventBuilder {
	b := &eventBuilder{prefixEsc: jsonEscape(prefix), hostEsc: jsonEscape(host), size: size}
	// Encoded size without padding minus the two copies of the number.
	b.fixedLen = len(b.appendEvent(nil, 0, time.Time{}.Format(timestampLayout), false)) - 2
	if words {
		// A fixed vocabulary of 512 lowercase words, 2..9 letters.
		r := splitmix(42)
		for i := 0; i < 512; i++ {
			w := make([]byte, 2+r.next()%8)
			for j := range w {
				w[j] = byte('a' + r.next()%26)
			}
			b.words = append(b.words, string(w))
		}
	}
	return b
}

type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// padding returns k bytes starting with a space: words chosen by n (so a
// resent event is identical) or x characters.
func (b *eventBuilder) padding(n, k int) string {
	if b.words == nil {
		if len(b.pad) < k {
			b.pad = " " + strings.Repeat("x", b.size)
		}
		return b.pad[:k]
	}
	r := splitmix(n)
	var sb strings.Builder
	sb.Grow(k + 10)
	for sb.Len() < k {
		sb.WriteByte(' ')
		sb.WriteString(b.words[r.next()%uint64(len(b.words))])
	}
	return sb.String()[:k]
}

// appendEvent appends one event; the JSON matches what libbeat's codec
// would produce for the equivalent map (keys in Filebeat's order).
func (b *eventBuilder) appendEvent(dst []byte, n int, ts string, pad bool) []byte {
	ns := strconv.Itoa(n)
	dst = append(dst, `{"@timestamp":"`...)
	dst = append(dst, ts...)
	dst = append(dst, `","@metadata":{"beat":"golumber","type":"_doc"},"message":"`...)
	dst = append(dst, b.prefixEsc...)
	dst = append(dst, ' ')
	dst = append(dst, ns...)
	if pad && b.size > 0 {
		if k := b.size - (b.fixedLen + 2*len(ns)); k > 0 {
			dst = append(dst, b.padding(n, k)...)
		}
	}
	dst = append(dst, `","seq":`...)
	dst = append(dst, ns...)
	dst = append(dst, `,"fields":{"type":"test"},"host":{"name":"`...)
	dst = append(dst, b.hostEsc...)
	dst = append(dst, `"}}`...)
	return dst
}

// build returns events first..first+count-1 as pre-encoded JSON
// (json.RawMessage, passed through unchanged by encodeEvent).
func (b *eventBuilder) build(first, count int) []interface{} {
	ts := time.Now().UTC().Format(timestampLayout)
	per := b.size
	if per < b.fixedLen+24 {
		per = b.fixedLen + 24
	}
	buf := make([]byte, 0, count*per)
	ends := make([]int, count)
	for i := range ends {
		buf = b.appendEvent(buf, first+i, ts, true)
		ends[i] = len(buf)
	}
	out := make([]interface{}, count)
	start := 0
	for i, end := range ends {
		out[i] = json.RawMessage(buf[start:end:end])
		start = end
	}
	return out
}
