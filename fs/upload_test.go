package fs

import (
	"testing"
	"time"
)

// TestYieldToForeground walks the uploader's wait for a quiet moment
// through a busy stretch: it waits while changes keep coming, stops
// waiting once they pause or once it has waited ForegroundFirst, and never
// waits when someone waits for uploads or staging is past half its budget.
func TestYieldToForeground(t *testing.T) {
	const limit = 10 * time.Second
	newUp := func(limit time.Duration, budget int64) *uploader {
		cfg := DefaultUploadConfig()
		cfg.ForegroundFirst = limit
		cfg.StagingBudget = budget
		return &uploader{f: &FS{stage: &stagingArea{sizes: map[uint64]int64{}}}, cfg: cfg}
	}
	t0 := time.Unix(1_000_000, 0)
	change := func(u *uploader, at time.Time) { u.f.lastChange.Store(at.UnixNano()) }

	u := newUp(limit, 0)
	if d := u.yieldToForeground(t0, false); d != 0 {
		t.Fatalf("no change ever: waits %v", d)
	}
	change(u, t0)
	d := u.yieldToForeground(t0.Add(100*time.Millisecond), false)
	if d <= 0 || d > DefaultQuietPeriod {
		t.Fatalf("a change 100 ms ago: waits %v, want (0, %v]", d, DefaultQuietPeriod)
	}
	// Changes keep coming for most of the limit: still waiting.
	for at := t0; at.Before(t0.Add(limit - time.Second)); at = at.Add(200 * time.Millisecond) {
		change(u, at)
		if d := u.yieldToForeground(at.Add(time.Millisecond), false); d <= 0 {
			t.Fatalf("%v into a busy stretch: stopped waiting", at.Sub(t0))
		}
	}
	// Past the limit: upload alongside, though changes still come.
	late := t0.Add(limit + 200*time.Millisecond)
	change(u, late)
	if d := u.yieldToForeground(late.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("busy past the %v limit: waits %v", limit, d)
	}
	// A pause ends the stretch; the next change starts a new one.
	pause := late.Add(DefaultQuietPeriod)
	if d := u.yieldToForeground(pause, false); d != 0 {
		t.Fatalf("after a %v pause: waits %v", DefaultQuietPeriod, d)
	}
	change(u, pause)
	if d := u.yieldToForeground(pause.Add(time.Millisecond), false); d <= 0 {
		t.Fatal("a new busy stretch after a pause: does not wait")
	}
	if d := u.yieldToForeground(pause.Add(time.Millisecond), true); d != 0 {
		t.Fatalf("a waiter wants uploads flushed: waits %v", d)
	}

	tight := newUp(limit, 100)
	tight.f.stage.noteSize(1, 60)
	change(tight, t0)
	if d := tight.yieldToForeground(t0.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("staging past half its budget: waits %v", d)
	}
	tight.f.stage.noteSize(1, 40)
	if d := tight.yieldToForeground(t0.Add(time.Millisecond), false); d <= 0 {
		t.Fatal("staging below half its budget: does not wait")
	}

	off := newUp(0, 0)
	change(off, t0)
	if d := off.yieldToForeground(t0.Add(time.Millisecond), false); d != 0 {
		t.Fatalf("ForegroundFirst 0: waits %v", d)
	}
}
