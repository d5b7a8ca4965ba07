package blobstore

import (
	"context"
	"sync"
	"time"
)

// Yielding to the foreground
//
// A lower CPU and I/O priority (EnterBackground) is not enough to keep
// background disk traffic out of a request's way. The kernel's I/O
// schedulers order requests only until they are handed to the device, and
// a virtual or SSD disk takes dozens of requests at once: a 4 KiB read
// sent while the device works through megabytes of an upload's sliver
// writeback, or of its readahead through a staged file, waits behind all
// of them, whatever its class. Measured on a 2-core VM's virtio disk, cold
// random reads of staged data dropped from about 2,800 to 360 per second
// while a 1 GiB file uploaded to the local store; the device's mean read
// latency went from 1.1 ms to 13 ms.
//
// So background work takes turns with the foreground in the process
// itself. The requests a process serves are bracketed with
// Foreground.Begin and the function it returns. While they keep coming
// (ForegroundBusy: one in flight, or one ended within the last second),
// background work cuts its disk I/O into bounded pieces, writes each back
// before the next (no pile of dirty pages for an fsync to send at once)
// and calls Yield before each, which waits while requests are in flight
// and until none has been for the quiet period. A request then finds at
// most a piece of background I/O in the device. The wait is bounded (the
// maximum wait), so background work under a stream of requests that never
// pauses still moves, a piece per maximum wait, and never starves; when
// the foreground is quiet, background work uses the disk as before. With
// the upload paced this way, the same reads ran at 2,700–5,100 per second
// during it, against 3,400–5,700 with no upload in the same minutes.

// Foreground tracks the requests a process is serving, so that
// background work can wait for a pause in them (see Yield). Safe for
// concurrent use; a nil *Foreground never holds anything back.
type Foreground struct {
	quiet, maxWait time.Duration

	mu      sync.Mutex
	active  int       // requests in flight
	lastEnd time.Time // when the last request ended
	idle    chan struct{}
	waiting int    // callers of Wait waiting now
	waits   uint64 // calls of Wait that waited
}

// DefaultQuiet and DefaultMaxWait are the Foreground settings walrusfs
// mounts with: background I/O waits until no request has been in flight
// for DefaultQuiet, and never longer than DefaultMaxWait per piece.
const (
	DefaultQuiet   = 20 * time.Millisecond
	DefaultMaxWait = 100 * time.Millisecond
)

// busyWindow is how long after its last request a Foreground counts as
// busy (Busy): background work keeps its I/O in paced pieces that long.
const busyWindow = time.Second

// NewForeground returns a tracker whose Wait returns once no request has
// been in flight for quiet, or after maxWait at most. A maxWait of zero
// never holds background work back.
func NewForeground(quiet, maxWait time.Duration) *Foreground {
	return &Foreground{quiet: quiet, maxWait: maxWait, idle: make(chan struct{})}
}

// Begin records a request in flight; call the returned function (once)
// when it is done.
func (f *Foreground) Begin() (end func()) {
	if f == nil {
		return func() {}
	}
	f.mu.Lock()
	f.active++
	f.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			f.mu.Lock()
			defer f.mu.Unlock()
			f.active--
			f.lastEnd = time.Now()
			if f.active == 0 {
				close(f.idle)
				f.idle = make(chan struct{})
			}
		})
	}
}

// Busy reports whether a request is in flight or one ended within the
// last second: background work then paces its disk I/O (see Yield).
func (f *Foreground) Busy() bool {
	if f == nil || f.maxWait <= 0 {
		return false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.active > 0 || time.Since(f.lastEnd) < busyWindow
}

// Wait waits until no request has been in flight for the quiet period,
// for at most the maximum wait. It returns nil then, or ctx's error if ctx
// ends while it waits.
func (f *Foreground) Wait(ctx context.Context) error {
	if f == nil || f.maxWait <= 0 {
		return nil
	}
	deadline := time.Now().Add(f.maxWait)
	waited := false
	defer func() {
		if waited {
			f.mu.Lock()
			f.waiting--
			f.mu.Unlock()
		}
	}()
	for {
		f.mu.Lock()
		now := time.Now()
		idle := f.idle
		wait := deadline.Sub(now)
		if f.active == 0 {
			wait = min(wait, f.quiet-now.Sub(f.lastEnd))
			idle = nil
		}
		if wait > 0 && !waited {
			waited = true
			f.waiting++
			f.waits++
		}
		f.mu.Unlock()
		if wait <= 0 {
			return nil
		}
		t := time.NewTimer(wait)
		select {
		case <-idle:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		}
		t.Stop()
	}
}

// Waiting is how many callers of Wait are waiting now; Waits counts the
// calls that have waited at all.
func (f *Foreground) Waiting() (now int, waits uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.waiting, f.waits
}

type foregroundKey struct{}

// WithForeground returns a context under which background work yields to
// the requests f tracks (see Yield).
func WithForeground(ctx context.Context, f *Foreground) context.Context {
	return context.WithValue(ctx, foregroundKey{}, f)
}

// Yield waits, when ctx marks background work that yields to a
// Foreground (WithBackground and WithForeground), until that foreground
// pauses, for at most its maximum wait; otherwise it returns at once.
// Background work calls it before each bounded piece of disk I/O. The
// error is ctx's, if it ended.
func Yield(ctx context.Context) error {
	return foregroundOf(ctx).Wait(ctx)
}

// ForegroundBusy reports whether ctx marks background work that yields to
// a Foreground, and that foreground is busy: the work should then cut its
// disk I/O into pieces and Yield before each. When it is false, the work
// may use the disk as it likes (a piece it starts meanwhile is one the
// first request waits behind).
func ForegroundBusy(ctx context.Context) bool {
	return foregroundOf(ctx).Busy()
}

// foregroundOf returns the Foreground that background work under ctx
// yields to, or nil.
func foregroundOf(ctx context.Context) *Foreground {
	if !IsBackground(ctx) {
		return nil
	}
	f, _ := ctx.Value(foregroundKey{}).(*Foreground)
	return f
}
