package faultproxy_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/blobstore/walrushttp/wire"
)

var payload = bytes.Repeat([]byte("0123456789abcdef"), 4096)

func setup(t *testing.T, rules ...faultproxy.Rule) (*faultproxy.Proxy, string) {
	t.Helper()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		w.Write(payload)
	}))
	t.Cleanup(up.Close)
	p := faultproxy.New(up.URL, 42, rules...)
	front := httptest.NewServer(p)
	t.Cleanup(front.Close)
	t.Cleanup(p.Close)
	return p, front.URL
}

type result struct {
	code int
	body []byte
	err  error
}

func get(t *testing.T, ctx context.Context, u string) result {
	t.Helper()
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return result{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{resp.StatusCode, b, err}
}

func TestPassThrough(t *testing.T) {
	p, u := setup(t, faultproxy.Rule{Method: "PUT", Fault: faultproxy.Drop})
	r := get(t, t.Context(), u+"/x")
	if r.err != nil || r.code != 200 || !bytes.Equal(r.body, payload) {
		t.Fatalf("got %d, %d bytes, %v", r.code, len(r.body), r.err)
	}
	if p.Requests() != 1 || p.Fired()["rule0"] != 0 {
		t.Fatalf("requests %d fired %v", p.Requests(), p.Fired())
	}
}

func TestStatusSchedule(t *testing.T) {
	p, u := setup(t,
		faultproxy.Rule{Name: "json", PathPrefix: "/a", Fault: faultproxy.Status, Status: 503, Reason: wire.ReasonBlobUnavailable, Skip: 1, Times: 2},
		faultproxy.Rule{Name: "plain", PathPrefix: "/b", Fault: faultproxy.Status, Status: 429, Body: wire.TextTooManyRequests},
	)
	var codes []int
	for range 5 {
		r := get(t, t.Context(), u+"/a")
		codes = append(codes, r.code)
		if r.code == 503 {
			var eb wire.ErrorBody
			if err := json.Unmarshal(r.body, &eb); err != nil || eb.Error.Details[0].Reason != wire.ReasonBlobUnavailable {
				t.Fatalf("503 body %s", r.body)
			}
		}
	}
	if want := []int{200, 503, 503, 200, 200}; !equal(codes, want) {
		t.Fatalf("codes %v, want %v", codes, want)
	}
	if r := get(t, t.Context(), u+"/b"); r.code != 429 || string(r.body) != wire.TextTooManyRequests {
		t.Fatalf("plain: %d %q", r.code, r.body)
	}
	if f := p.Fired(); f["json"] != 2 || f["plain"] != 1 {
		t.Fatalf("fired %v", f)
	}
}

func TestProbabilityIsSeeded(t *testing.T) {
	run := func() []int {
		_, u := setup(t, faultproxy.Rule{Fault: faultproxy.Status, Status: 500, Probability: 0.5})
		var codes []int
		for range 20 {
			codes = append(codes, get(t, t.Context(), u).code)
		}
		return codes
	}
	a, b := run(), run()
	if !equal(a, b) {
		t.Fatalf("same seed, different schedules: %v %v", a, b)
	}
	n := 0
	for _, c := range a {
		if c == 500 {
			n++
		}
	}
	if n == 0 || n == 20 {
		t.Fatalf("probability 0.5 fired %d of 20 times", n)
	}
}

func TestBrokenBodies(t *testing.T) {
	t.Run("truncate", func(t *testing.T) {
		_, u := setup(t, faultproxy.Rule{Fault: faultproxy.Truncate, After: 1000})
		r := get(t, t.Context(), u)
		if r.err == nil || len(r.body) != 1000 {
			t.Fatalf("got %d bytes, err %v; want 1000 and an error", len(r.body), r.err)
		}
	})
	t.Run("corrupt", func(t *testing.T) {
		_, u := setup(t, faultproxy.Rule{Fault: faultproxy.Corrupt, Flips: 3})
		r := get(t, t.Context(), u)
		if r.err != nil || len(r.body) != len(payload) || bytes.Equal(r.body, payload) {
			t.Fatalf("got %d bytes (equal %v), err %v", len(r.body), bytes.Equal(r.body, payload), r.err)
		}
		diff := 0
		for i := range payload {
			if r.body[i] != payload[i] {
				diff++
			}
		}
		if diff < 1 || diff > 3 {
			t.Fatalf("%d bytes differ, want 1..3", diff)
		}
	})
	t.Run("drop", func(t *testing.T) {
		_, u := setup(t, faultproxy.Rule{Fault: faultproxy.Drop})
		if r := get(t, t.Context(), u); r.err == nil {
			t.Fatalf("dropped connection gave %d", r.code)
		}
	})
	for _, f := range []faultproxy.Fault{faultproxy.Stall, faultproxy.StallBody} {
		t.Run(f.String(), func(t *testing.T) {
			_, u := setup(t, faultproxy.Rule{Fault: f, After: 10})
			ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
			defer cancel()
			if r := get(t, ctx, u); r.err == nil {
				t.Fatalf("stalled request completed: %d, %d bytes", r.code, len(r.body))
			}
		})
	}
	t.Run("close releases stalls", func(t *testing.T) {
		p, u := setup(t, faultproxy.Rule{Fault: faultproxy.Stall})
		done := make(chan result)
		go func() { done <- get(t, context.Background(), u) }()
		for p.Requests() == 0 {
			time.Sleep(time.Millisecond)
		}
		p.Close()
		if r := <-done; r.err == nil {
			t.Fatalf("released stall answered %d", r.code)
		}
	})
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
