package blobstore

import (
	"context"
	"runtime"
)

// Background work
//
// Uploading is work nobody waits for: a file was closed long ago and its
// chunks are encoded and stored while the filesystem serves other requests.
// On a small machine that encoding (RS2 at 1000 shards hashes a million
// Merkle leaves per quilt) would otherwise take the cores from the
// foreground, and every FUSE request would queue behind it: `tar x` slows
// several-fold while uploads run.
//
// A caller marks such work with WithBackground; the parts that burn CPU for
// it (the RS2 encoder's workers, the uploader itself) call EnterBackground
// at the start of each goroutine they run for it. EnterBackground locks the
// goroutine to its OS thread and lowers that thread's scheduling priority
// (nice BackgroundNice on Linux) and its I/O priority (the idle class, so
// its reads and flushes wait behind the requests being served; nothing
// elsewhere). The thread ends with
// the goroutine, so the lowered priority never leaks to other goroutines.
// The kernel then gives the cores to the foreground whenever it wants
// them, and all of them to the background when it does not.
// The I/O class orders disk requests only until the device takes them;
// what keeps background I/O out of the way of requests the device already
// holds is Foreground and Yield (see "Yielding to the foreground").
//
// A background thread still holds one of the Go runtime's Ps while it runs;
// a process that marks work as background should allow as many more Ps
// (runtime.GOMAXPROCS) as it may run background goroutines at once, so that
// foreground goroutines never wait for a P held by a background thread.

// BackgroundNice is the nice value of background threads: the kernel gives
// a nice-0 thread about ten times the CPU of one at nice 10.
const BackgroundNice = 10

type backgroundKey struct{}

// WithBackground returns a context that marks the work done under it as
// background work (see above).
func WithBackground(ctx context.Context) context.Context {
	return context.WithValue(ctx, backgroundKey{}, true)
}

// IsBackground reports whether ctx marks background work.
func IsBackground(ctx context.Context) bool {
	b, _ := ctx.Value(backgroundKey{}).(bool)
	return b
}

// EnterBackground lowers the priority of the calling goroutine's OS thread
// when ctx marks background work, and does nothing otherwise. Call it first
// in a goroutine that was started for that work and ends with it: the
// goroutine stays locked to its thread, and the runtime ends the thread
// when the goroutine returns.
func EnterBackground(ctx context.Context) {
	if !IsBackground(ctx) {
		return
	}
	runtime.LockOSThread()
	lowerThreadPriority()
}
