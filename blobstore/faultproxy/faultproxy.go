// Package faultproxy is a reverse proxy for tests that breaks requests on
// purpose: it answers with error statuses (Walrus-shaped JSON or plain
// text), sheds load with bursts of 429, hangs until the client gives up,
// cuts bodies short of their declared Content-Length, drops connections and
// flips bytes in bodies.
//
// Faults follow [Rule]s, matched in order by method and path prefix. Each
// rule fires on a schedule: skip the first Skip matching requests, then fire
// on at most Times of them (0: no limit), each with probability Probability
// (0: always) drawn from a generator seeded by the caller, so a run can be
// repeated. Requests no rule fires on pass through untouched.
//
//	up := httptest.NewServer(handler)
//	p := faultproxy.New(up.URL, 1,
//		faultproxy.Rule{Method: "PUT", Fault: faultproxy.Status, Status: 429, Times: 3},
//		faultproxy.Rule{PathPrefix: "/v1/blobs/", Fault: faultproxy.Corrupt, Probability: 0.3},
//	)
//	front := httptest.NewServer(p)
//	defer p.Close() // releases stalled requests
//
// A Proxy is safe for concurrent use.
package faultproxy

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// Fault is what a rule does to a request.
type Fault int

const (
	// Status answers with Rule.Status and a body, without asking upstream:
	// a Walrus JSON error if Rule.Reason is set, else Rule.Body as plain
	// text.
	Status Fault = iota + 1
	// Stall never answers: the request hangs until the client gives up or
	// the proxy is closed.
	Stall
	// StallBody forwards the reply's headers and its first Rule.After body
	// bytes, then hangs.
	StallBody
	// Truncate forwards the reply with its Content-Length but only the first
	// Rule.After body bytes, then drops the connection.
	Truncate
	// Corrupt forwards the reply with Rule.Flips bytes (default 1) of the
	// body changed at positions drawn from the seeded generator.
	Corrupt
	// Drop closes the connection without answering.
	Drop
)

func (f Fault) String() string {
	switch f {
	case Status:
		return "status"
	case Stall:
		return "stall"
	case StallBody:
		return "stall-body"
	case Truncate:
		return "truncate"
	case Corrupt:
		return "corrupt"
	case Drop:
		return "drop"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

// Rule says which requests to break and how.
type Rule struct {
	// Name labels the rule in [Proxy.Fired]; empty means "rule<i>".
	Name string
	// Method matches the request method; empty matches all.
	Method string
	// PathPrefix matches the start of the request path; empty matches all.
	PathPrefix string
	// Ranged, if true, matches only requests with a Range header or a
	// byte-range query; if false, all.
	Ranged bool

	Fault Fault
	// Status, Reason and Body shape a Status fault.
	Status int
	Reason string
	Body   string
	// After is the number of body bytes a Truncate or StallBody fault lets
	// through.
	After int64
	// Flips is the number of bytes a Corrupt fault changes (default 1).
	Flips int

	// Skip lets the first Skip matching requests through.
	Skip int
	// Times caps how often the rule fires; 0 means no cap.
	Times int
	// Probability is the chance that the rule fires on an eligible request;
	// 0 means always.
	Probability float64
}

// Proxy is an http.Handler that forwards to an upstream server and injects
// faults. Create it with [New].
type Proxy struct {
	rp     *httputil.ReverseProxy
	closed chan struct{}
	once   sync.Once

	mu      sync.Mutex
	rng     *rand.Rand
	rules   []Rule
	matched []int
	fired   []int
	total   int
}

// New returns a proxy to upstream (a base URL such as an httptest server's)
// with the given rules, drawing random decisions from seed.
func New(upstream string, seed uint64, rules ...Rule) *Proxy {
	u, err := url.Parse(upstream)
	if err != nil {
		panic(fmt.Sprintf("faultproxy: upstream %q: %v", upstream, err))
	}
	p := &Proxy{
		closed:  make(chan struct{}),
		rng:     rand.New(rand.NewPCG(seed, 0x6661756c74)),
		rules:   append([]Rule(nil), rules...),
		matched: make([]int, len(rules)),
		fired:   make([]int, len(rules)),
	}
	for i := range p.rules {
		if p.rules[i].Name == "" {
			p.rules[i].Name = "rule" + strconv.Itoa(i)
		}
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(u)
			pr.Out.Host = pr.In.Host
		},
		ErrorLog: log.New(io.Discard, "", 0),
		// Errors from upstream become a 502, as a real gateway's would.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "faultproxy: upstream: "+err.Error(), http.StatusBadGateway)
		},
	}
	return p
}

// Close releases every stalled request. The proxy keeps forwarding.
func (p *Proxy) Close() { p.once.Do(func() { close(p.closed) }) }

// Fired returns how many times each rule fired, by rule name.
func (p *Proxy) Fired() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := make(map[string]int, len(p.rules))
	for i, r := range p.rules {
		m[r.Name] += p.fired[i]
	}
	return m
}

// Requests returns the number of requests the proxy has seen.
func (p *Proxy) Requests() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.total
}

func (r *Rule) matches(req *http.Request) bool {
	if r.Method != "" && r.Method != req.Method {
		return false
	}
	if r.PathPrefix != "" && !strings.HasPrefix(req.URL.Path, r.PathPrefix) {
		return false
	}
	if r.Ranged && req.Header.Get("Range") == "" && !req.URL.Query().Has(wire.ParamStart) {
		return false
	}
	return true
}

// decide picks the rule that fires on req, if any, and a generator for the
// fault's own random choices.
func (p *Proxy) decide(req *http.Request) (*Rule, *rand.Rand) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.total++
	for i := range p.rules {
		r := &p.rules[i]
		if !r.matches(req) {
			continue
		}
		p.matched[i]++
		if p.matched[i] <= r.Skip || (r.Times > 0 && p.fired[i] >= r.Times) {
			continue
		}
		if r.Probability > 0 && p.rng.Float64() >= r.Probability {
			continue
		}
		p.fired[i]++
		// Each fault gets its own generator so concurrent bodies do not
		// share one.
		return r, rand.New(rand.NewPCG(p.rng.Uint64(), p.rng.Uint64()))
	}
	return nil, nil
}

// ServeHTTP implements http.Handler.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	rule, rng := p.decide(req)
	if rule == nil {
		p.rp.ServeHTTP(w, req)
		return
	}
	switch rule.Fault {
	case Status:
		writeStatus(w, rule)
	case Stall:
		select {
		case <-req.Context().Done():
		case <-p.closed:
		}
		panic(http.ErrAbortHandler)
	case Drop:
		panic(http.ErrAbortHandler)
	case StallBody, Truncate, Corrupt:
		p.forwardBroken(w, req, rule, rng)
	default:
		http.Error(w, "faultproxy: unknown fault "+rule.Fault.String(), http.StatusInternalServerError)
	}
}

func writeStatus(w http.ResponseWriter, r *Rule) {
	code := r.Status
	if code == 0 {
		code = http.StatusServiceUnavailable
	}
	if r.Reason != "" {
		b, _ := json.Marshal(wire.NewErrorBody(code, r.Reason, r.Body))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(code)
		_, _ = w.Write(b)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, r.Body)
}

// errCut aborts a forwarded body.
var errCut = errors.New("faultproxy: body cut")

// forwardBroken forwards the request and damages the reply body. Only
// successful replies are damaged; errors pass through as they are.
func (p *Proxy) forwardBroken(w http.ResponseWriter, req *http.Request, rule *Rule, rng *rand.Rand) {
	rp := *p.rp
	// Flush every write, so the bytes before a cut reach the client.
	rp.FlushInterval = -1
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.StatusCode < 200 || resp.StatusCode > 299 {
			return nil
		}
		switch rule.Fault {
		case Truncate:
			resp.Body = &cutBody{rc: resp.Body, left: rule.After}
		case StallBody:
			resp.Body = &cutBody{rc: resp.Body, left: rule.After, stall: req.Context().Done(), closed: p.closed}
		case Corrupt:
			resp.Body = newCorruptBody(resp.Body, resp.ContentLength, rule.Flips, rng)
		}
		return nil
	}
	rp.ServeHTTP(w, req)
}

// cutBody lets left bytes through, then fails (after hanging, for a stall).
type cutBody struct {
	rc     io.ReadCloser
	left   int64
	stall  <-chan struct{}
	closed <-chan struct{}
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		if b.stall != nil {
			select {
			case <-b.stall:
			case <-b.closed:
			}
		}
		return 0, errCut
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.rc.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *cutBody) Close() error { return b.rc.Close() }

// corruptBody changes bytes at chosen offsets.
type corruptBody struct {
	rc    io.ReadCloser
	off   int64
	flips map[int64]byte
}

func newCorruptBody(rc io.ReadCloser, length int64, flips int, rng *rand.Rand) *corruptBody {
	if flips <= 0 {
		flips = 1
	}
	span := length
	if span <= 0 {
		span = 4096
	}
	b := &corruptBody{rc: rc, flips: make(map[int64]byte, flips)}
	for range flips {
		b.flips[rng.Int64N(span)] = byte(1 + rng.IntN(255))
	}
	return b
}

func (b *corruptBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	for i := range n {
		if x, ok := b.flips[b.off+int64(i)]; ok {
			p[i] ^= x
		}
	}
	b.off += int64(n)
	return n, err
}

func (b *corruptBody) Close() error { return b.rc.Close() }
