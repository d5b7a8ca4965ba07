package blobstore

import (
	"context"
	"errors"
	"testing"
	"time"
)

// waitIn runs f.Wait(ctx) in a goroutine and returns its result channel.
func waitIn(ctx context.Context, f *Foreground) <-chan error {
	done := make(chan error, 1)
	go func() { done <- f.Wait(ctx) }()
	return done
}

// untilWaiting blocks until n callers wait in f.Wait, or fails the test if
// done delivers first (the caller stopped waiting).
func untilWaiting(t *testing.T, f *Foreground, n int, done <-chan error) {
	t.Helper()
	for {
		if now, _ := f.Waiting(); now >= n {
			return
		}
		select {
		case err := <-done:
			t.Fatalf("Wait returned (%v) while a request was in flight", err)
		case <-time.After(time.Millisecond):
		}
	}
}

// TestForegroundWaitsForRequests: background work waits while a request
// is in flight and goes once the last one ends.
func TestForegroundWaitsForRequests(t *testing.T) {
	f := NewForeground(0, time.Hour)
	end1, end2 := f.Begin(), f.Begin()
	done := waitIn(t.Context(), f)
	untilWaiting(t, f, 1, done)
	end1()
	end1() // a second call does nothing
	untilWaiting(t, f, 1, done)
	end2()
	if err := <-done; err != nil {
		t.Fatalf("Wait after the requests ended: %v", err)
	}
	if now, waits := f.Waiting(); now != 0 || waits != 1 {
		t.Errorf("Waiting() = %d, %d; want 0, 1", now, waits)
	}
	if err := f.Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if _, waits := f.Waiting(); waits != 1 {
		t.Error("Wait with nothing in flight and no quiet period waited")
	}
}

// TestForegroundWaitIsBounded: under requests that never end, background
// work still goes after the maximum wait.
func TestForegroundWaitIsBounded(t *testing.T) {
	f := NewForeground(time.Hour, time.Millisecond)
	end := f.Begin()
	defer end()
	for range 3 {
		if err := f.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	if _, waits := f.Waiting(); waits != 3 {
		t.Errorf("%d of 3 calls waited for the request in flight", waits)
	}
	if !f.Busy() {
		t.Error("not busy with a request in flight")
	}
}

// TestForegroundQuietPeriod: after the last request ends, background work
// waits for the quiet period.
func TestForegroundQuietPeriod(t *testing.T) {
	f := NewForeground(time.Hour, time.Hour)
	f.Begin()()
	ctx, cancel := context.WithCancel(t.Context())
	done := waitIn(ctx, f)
	untilWaiting(t, f, 1, done)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait in the quiet period, cancelled: %v", err)
	}
	if !f.Busy() {
		t.Error("not busy right after a request")
	}
}

// TestYieldOnlyForBackgroundWork: Yield holds back only work marked as
// background that yields to a Foreground; a nil or disabled Foreground
// holds back nothing.
func TestYieldOnlyForBackgroundWork(t *testing.T) {
	f := NewForeground(time.Hour, time.Hour)
	defer f.Begin()()
	for name, ctx := range map[string]context.Context{
		"not background":        WithForeground(t.Context(), f),
		"no foreground":         WithBackground(t.Context()),
		"nil foreground":        WithForeground(WithBackground(t.Context()), nil),
		"foreground turned off": WithForeground(WithBackground(t.Context()), NewForeground(time.Hour, 0)),
	} {
		if ForegroundBusy(ctx) {
			t.Errorf("%s: busy", name)
		}
		if err := Yield(ctx); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, waits := f.Waiting(); waits != 0 {
		t.Errorf("%d yields waited", waits)
	}
	ctx, cancel := context.WithCancel(WithForeground(WithBackground(t.Context()), f))
	if !ForegroundBusy(ctx) {
		t.Error("background work under a busy foreground: not busy")
	}
	done := make(chan error, 1)
	go func() { done <- Yield(ctx) }()
	untilWaiting(t, f, 1, done)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Yield, cancelled: %v", err)
	}
}
