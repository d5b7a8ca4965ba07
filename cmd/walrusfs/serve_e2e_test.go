package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/blobstore/storetest"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

// e2eShards keeps encoding in the serve process (race-instrumented under
// -race) cheap while leaving room for the suite's multi-MiB blob.
const e2eShards = 20

// startServe runs `walrusfs serve` on a free port over a fresh store and
// returns its base URL. The process is stopped with SIGTERM at cleanup and
// must exit cleanly.
func startServe(t *testing.T) string {
	t.Helper()
	addr, _ := startServeProcess(t, "serve", "--listen", "127.0.0.1:0", "--store", t.TempDir(), "--shards", fmt.Sprint(e2eShards), "--quilt-shards", fmt.Sprint(e2eShards))
	return "http://" + addr
}

// startServeProcess runs a `walrusfs serve` command and returns the
// address it listens on and its standard output. At cleanup it is stopped
// with SIGTERM, must exit cleanly, and must not have logged a panic or a
// race.
func startServeProcess(t *testing.T, args ...string) (string, *syncBuffer) {
	t.Helper()
	cmd := walrusfsCmd(args...)
	stdout := &syncBuffer{}
	cmd.Stdout = stdout
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var logBuf bytes.Buffer
	addr := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		re := regexp.MustCompile(`listen=(\S+)`)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			mu.Lock()
			logBuf.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	logs := func() string {
		mu.Lock()
		defer mu.Unlock()
		return logBuf.String()
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		exited := make(chan error, 1)
		go func() { <-scanned; exited <- cmd.Wait() }()
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("%s exit after SIGTERM: %v\n%s", args[0], err, logs())
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			t.Errorf("%s did not stop after SIGTERM\n%s", args[0], logs())
		}
		if strings.Contains(logs(), "DATA RACE") || strings.Contains(logs(), "panic:") {
			t.Errorf("%s reported a race or a panic:\n%s", args[0], logs())
		}
	})
	select {
	case a := <-addr:
		return a, stdout
	case <-time.After(30 * time.Second):
		t.Fatalf("%s did not report its address\n%s", args[0], logs())
	}
	return "", nil
}

// e2eClient returns a client with short delays: stalls are cut after
// IdleTimeout, and enough attempts to ride out the fault schedules below.
func e2eClient(t *testing.T, publisher string, aggregators ...string) *walrushttp.Client {
	t.Helper()
	cfg := walrushttp.DefaultConfig()
	cfg.PublisherURL = publisher
	cfg.AggregatorURLs = aggregators
	cfg.MaxAttempts = 12
	cfg.RetryBaseDelay = 2 * time.Millisecond
	cfg.RetryMaxDelay = 40 * time.Millisecond
	cfg.ResponseTimeout = 1500 * time.Millisecond
	cfg.StoreTimeout = time.Minute
	cfg.IdleTimeout = 400 * time.Millisecond
	c, err := walrushttp.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// frontProxy serves a fault proxy to upstream and releases its stalls at
// cleanup.
func frontProxy(t *testing.T, upstream string, seed uint64, rules ...faultproxy.Rule) (*faultproxy.Proxy, string) {
	t.Helper()
	p := faultproxy.New(upstream, seed, rules...)
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	t.Cleanup(p.Close)
	return p, srv.URL
}

func e2eSuiteOptions(t *testing.T) storetest.Options {
	params, err := rs2.NewParams(e2eShards)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := rs2.NewEncoder(e2eShards)
	if err != nil {
		t.Fatal(err)
	}
	return storetest.Options{
		Delete: storetest.DeleteForbidden,
		// The suite's largest blob: enough for several slivers per read,
		// small enough to keep the race-instrumented server quick.
		MaxBlobSize: min(int64(params.MaxBlobSize()), 1<<20+3),
		BlobID: func(data []byte) (blobstore.ID, error) {
			return enc.BlobID(context.Background(), bytes.NewReader(data), int64(len(data)))
		},
	}
}

// TestServeEndToEnd runs `walrusfs serve` as a process and talks to it with
// the Walrus HTTP client: the Store suite, quilts included, directly and
// through a proxy that sheds load, fails, cuts and stalls replies (but does
// not corrupt them: plain range reads cannot tell); then uploads and
// verified reads through proxies that also corrupt bytes.
func TestServeEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a serve process")
	}
	base := startServe(t)
	opts := e2eSuiteOptions(t)
	t.Run("suite direct", func(t *testing.T) {
		c := e2eClient(t, base, base)
		storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store { return c }, opts)
	})
	t.Run("suite through faults", func(t *testing.T) {
		p, front := frontProxy(t, base, 11,
			faultproxy.Rule{Name: "429 burst", Method: "PUT", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests, Skip: 2, Times: 4},
			faultproxy.Rule{Name: "put 503", Method: "PUT", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Probability: 0.15},
			faultproxy.Rule{Name: "put reply cut", Method: "PUT", Fault: faultproxy.Truncate, After: 10, Probability: 0.1},
			faultproxy.Rule{Name: "read 503", Method: "GET", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Probability: 0.1},
			faultproxy.Rule{Name: "read 429", Method: "GET", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests, Probability: 0.05},
			faultproxy.Rule{Name: "read cut", Method: "GET", Ranged: true, Fault: faultproxy.Truncate, After: 700, Probability: 0.1},
			faultproxy.Rule{Name: "body stall", Method: "GET", Ranged: true, Fault: faultproxy.StallBody, After: 300, Times: 3, Skip: 5},
			faultproxy.Rule{Name: "stall", Method: "GET", Fault: faultproxy.Stall, Times: 1, Skip: 20},
		)
		c := e2eClient(t, front, front)
		storetest.RunWithOptions(t, func(t *testing.T) blobstore.Store { return c }, opts)
		fired := p.Fired()
		t.Logf("faults fired over %d requests: %v", p.Requests(), fired)
		for name, n := range fired {
			if n == 0 {
				t.Errorf("fault %q never fired; the schedule no longer exercises it", name)
			}
		}
	})
	t.Run("faulty network", func(t *testing.T) { testFaultyNetwork(t, base) })
}

// testFaultyNetwork stores blobs through a publisher proxy that sheds
// load and fails, and reads them through three aggregator proxies that also
// corrupt bytes, cut and stall replies. Every upload must succeed, and a
// verified read must either return exactly the bytes the test holds a hash
// for or fail: never wrong bytes.
func testFaultyNetwork(t *testing.T, base string) {
	pub, pubURL := frontProxy(t, base, 21,
		faultproxy.Rule{Name: "429 burst", Method: "PUT", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests, Times: 3},
		faultproxy.Rule{Name: "503", Method: "PUT", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Probability: 0.2},
		faultproxy.Rule{Name: "reply cut", Method: "PUT", Fault: faultproxy.Truncate, After: 5, Probability: 0.2},
		faultproxy.Rule{Name: "drop", Method: "PUT", Fault: faultproxy.Drop, Skip: 1, Times: 2},
	)
	var aggs []string
	var proxies []*faultproxy.Proxy
	for i := range 3 {
		p, u := frontProxy(t, base, uint64(100+i),
			faultproxy.Rule{Name: "corrupt", Method: "GET", Ranged: true, Fault: faultproxy.Corrupt, Flips: 1 + i, Probability: 0.2},
			faultproxy.Rule{Name: "503", Method: "GET", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Probability: 0.1},
			faultproxy.Rule{Name: "429", Method: "GET", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests, Probability: 0.1},
			faultproxy.Rule{Name: "cut", Method: "GET", Ranged: true, Fault: faultproxy.Truncate, After: 1000, Probability: 0.1},
			faultproxy.Rule{Name: "stall", Method: "GET", Ranged: true, Fault: faultproxy.StallBody, After: 100, Times: 1, Skip: 3},
		)
		aggs, proxies = append(aggs, u), append(proxies, p)
	}
	c := e2eClient(t, pubURL, aggs...)

	rng := rand.New(rand.NewPCG(5, 6))
	blobs := make(map[blobstore.ID][]byte)
	for i, n := range []int64{1, 4096, 70_001, 300_000, 1<<20 + 5} {
		data := storetest.Data(uint64(500+i), n)
		info, err := c.Put(t.Context(), bytes.NewReader(data), n, blobstore.PutOptions{Epochs: 2})
		if err != nil {
			t.Fatalf("upload of %d bytes through the faulty publisher: %v", n, err)
		}
		if info.Size != n {
			t.Fatalf("upload of %d bytes reported size %d", n, info.Size)
		}
		blobs[info.ID] = data
	}

	var reads, failed, caught int
	for id, data := range blobs {
		for range 8 {
			n := int64(len(data))
			off := rng.Int64N(n)
			length := 1 + rng.Int64N(n-off)
			want := sha256.Sum256(data[off : off+length])
			err := c.ReadRangeVerified(t.Context(), id, off, length, func(r io.Reader) error {
				h := sha256.New()
				if _, err := io.Copy(h, r); err != nil {
					return err
				}
				if !bytes.Equal(h.Sum(nil), want[:]) {
					caught++
					return fmt.Errorf("range [%d,+%d) of %s: hash mismatch: %w", off, length, id, blobstore.ErrIntegrity)
				}
				return nil
			})
			reads++
			switch {
			case err == nil:
			case errors.Is(err, blobstore.ErrIntegrity) || errors.Is(err, blobstore.ErrUnavailable):
				// Refused, never wrong: every aggregator served bad bytes
				// for this range, or the faults outlasted the attempts.
				failed++
				t.Logf("verified read refused: %v", err)
			default:
				t.Fatalf("verified read of [%d,+%d) of %s: %v", off, length, id, err)
			}
		}
		// Unverified whole reads: cuts and stalls must be resumed without
		// losing or repeating a byte. Corruption can pass here, so only the
		// length is checked against a corrupting aggregator...
		rc, err := c.ReadRange(t.Context(), id, 0, int64(len(data)))
		if err != nil {
			t.Fatalf("read of %s: %v", id, err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err == nil && len(got) != len(data) {
			t.Fatalf("read of %s: %d bytes, want %d", id, len(got), len(data))
		}
	}
	// ...and in full straight from the server.
	direct := e2eClient(t, base, base)
	for id, data := range blobs {
		rc, err := direct.ReadRange(t.Context(), id, 0, int64(len(data)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("direct read of %s: %d bytes, %v", id, len(got), err)
		}
	}

	corrupted := 0
	for _, p := range proxies {
		corrupted += p.Fired()["corrupt"]
	}
	t.Logf("%d verified reads, %d refused, %d bad copies caught, %d corruptions injected; publisher faults %v",
		reads, failed, caught, corrupted, pub.Fired())
	if corrupted == 0 || caught == 0 {
		t.Fatalf("no corruption was injected (%d) or caught (%d): the test no longer tests verification", corrupted, caught)
	}
	if failed > reads/4 {
		t.Fatalf("%d of %d verified reads failed", failed, reads)
	}
	for name, n := range pub.Fired() {
		if n == 0 {
			t.Errorf("publisher fault %q never fired", name)
		}
	}
}
