package upload

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
)

// TestNewQuiltSize: New refuses a quilt size below the smallest quilt at
// the store's shard count (Kp·Ks·2 bytes: 445 556 at 1000 shards), which
// no quilt could keep to.
func TestNewQuiltSize(t *testing.T) {
	tests := []struct {
		name     string
		shards   int // 0: a store that does not say (1000, the network's)
		maxBytes int64
		ok       bool
	}{
		{"default", 0, DefaultQuiltMaxBytes, true},
		{"smallest quilt", 0, 445_556, true},
		{"below the smallest quilt", 0, 445_555, false},
		{"below at 1000 shards, above at 40", 40, 256 << 10, true},
		{"below the smallest quilt at 40 shards", 40, 755, false},
	}
	codec, err := blockcrypt.NewCodec(blockcrypt.Layout{BlockSize: 4096}, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.QuiltMaxBytes, cfg.QuiltThreshold = tt.maxBytes, min(tt.maxBytes, cfg.QuiltThreshold)
			var store blobstore.Store = plainStore{}
			if tt.shards > 0 {
				store = shardStore{shards: tt.shards}
			}
			a := &fakeActivity{}
			u, err := New(cfg, Parts{Store: store, Codec: codec, Queue: fakeQueue{}, Staging: a, Activity: a, Log: slog.New(slog.DiscardHandler)})
			if (err == nil) != tt.ok {
				t.Fatalf("New with a quilt size of %d at %d shards: %v; want ok %v", tt.maxBytes, tt.shards, err, tt.ok)
			}
			if u != nil {
				u.Stop()
			}
		})
	}
}

// plainStore is a store New is given but never calls; shardStore is one
// that says its quilt shard count.
type (
	plainStore struct{ blobstore.Store }
	shardStore struct {
		plainStore
		shards int
	}
)

func (s shardStore) QuiltShards() int { return s.shards }

// fakeQueue is a queue New is given but never reads.
type fakeQueue struct{ Queue }

// TestYieldToForeground walks the uploader's wait for a quiet moment
// through a busy stretch: it waits while changes keep coming, stops
// waiting once they pause or once it has waited ForegroundFirst, and never
// waits when someone waits for uploads or staging is past half its budget.
func TestYieldToForeground(t *testing.T) {
	const limit = 10 * time.Second
	newUp := func(limit time.Duration) (*Uploader, *fakeActivity) {
		cfg := DefaultConfig()
		cfg.ForegroundFirst = limit
		a := &fakeActivity{}
		return &Uploader{cfg: cfg, Parts: Parts{Activity: a, Staging: a}}, a
	}
	t0 := time.Unix(1_000_000, 0)
	change := func(a *fakeActivity, at time.Time) { a.last = at }

	u, a := newUp(limit)
	if d := u.yieldToForeground(t0, false); d != 0 {
		t.Fatalf("no change ever: waits %v", d)
	}
	change(a, t0)
	d := u.yieldToForeground(t0.Add(100*time.Millisecond), false)
	if d <= 0 || d > DefaultQuietPeriod {
		t.Fatalf("a change 100 ms ago: waits %v, want (0, %v]", d, DefaultQuietPeriod)
	}
	// Changes keep coming for most of the limit: still waiting.
	for at := t0; at.Before(t0.Add(limit - time.Second)); at = at.Add(200 * time.Millisecond) {
		change(a, at)
		if d := u.yieldToForeground(at.Add(time.Millisecond), false); d <= 0 {
			t.Fatalf("%v into a busy stretch: stopped waiting", at.Sub(t0))
		}
	}
	// Past the limit: upload alongside, though changes still come.
	late := t0.Add(limit + 200*time.Millisecond)
	change(a, late)
	if d := u.yieldToForeground(late.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("busy past the %v limit: waits %v", limit, d)
	}
	// A pause ends the stretch; the next change starts a new one.
	pause := late.Add(DefaultQuietPeriod)
	if d := u.yieldToForeground(pause, false); d != 0 {
		t.Fatalf("after a %v pause: waits %v", DefaultQuietPeriod, d)
	}
	change(a, pause)
	if d := u.yieldToForeground(pause.Add(time.Millisecond), false); d <= 0 {
		t.Fatal("a new busy stretch after a pause: does not wait")
	}
	if d := u.yieldToForeground(pause.Add(time.Millisecond), true); d != 0 {
		t.Fatalf("a waiter wants uploads flushed: waits %v", d)
	}

	tight, ta := newUp(limit)
	ta.tight = true
	change(ta, t0)
	if d := tight.yieldToForeground(t0.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("staging past half its budget: waits %v", d)
	}
	ta.tight = false
	if d := tight.yieldToForeground(t0.Add(time.Millisecond), false); d <= 0 {
		t.Fatal("staging below half its budget: does not wait")
	}

	off, oa := newUp(0)
	change(oa, t0)
	if d := off.yieldToForeground(t0.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("ForegroundFirst 0: waits %v", d)
	}
}

// fakeActivity is an activity clock and a staging area whose fill the test
// sets.
type fakeActivity struct {
	last  time.Time
	tight bool
}

func (a *fakeActivity) LastChange() time.Time { return a.last }

func (a *fakeActivity) Tight() bool { return a.tight }

func (a *fakeActivity) OpenSealed(uint64) (*os.File, error) {
	return nil, errors.New("no staging files here")
}

func TestFailureKind(t *testing.T) {
	for want, err := range map[string]error{
		"unavailable": fmt.Errorf("put: %w", blobstore.ErrUnavailable),
		"too_large":   blobstore.ErrTooLarge,
		"forbidden":   blobstore.ErrForbidden,
		"integrity":   blobstore.ErrIntegrity,
		"invalid":     blobstore.ErrInvalidArgument,
		"not_found":   blobstore.ErrNotFound,
		"local":       fmt.Errorf("open staged chunk: %w", os.ErrNotExist),
		"other":       errors.New("something else"),
	} {
		if got := FailureKind(err); got != want {
			t.Errorf("%v: %s, want %s", err, got, want)
		}
	}
}
