package blobstore

import (
	"context"
	"syscall"
	"testing"
)

// threadNice returns the nice value of the calling thread. The raw
// getpriority system call returns 20 − nice.
func threadNice(t *testing.T) int {
	t.Helper()
	p, err := syscall.Getpriority(syscall.PRIO_PROCESS, syscall.Gettid())
	if err != nil {
		t.Fatal(err)
	}
	return 20 - p
}

// threadIOPriority returns the I/O priority of the calling thread, as
// ioprio_get(2) encodes it.
func threadIOPriority(t *testing.T) int {
	t.Helper()
	p, _, errno := syscall.RawSyscall(syscall.SYS_IOPRIO_GET, ioprioWhoProcess, uintptr(syscall.Gettid()), 0)
	if errno != 0 {
		t.Fatal(errno)
	}
	return int(p)
}

// TestEnterBackgroundIOPriority: a background thread's disk requests go in
// the idle class, behind the foreground's.
func TestEnterBackgroundIOPriority(t *testing.T) {
	got := make(chan [2]int, 1)
	go func() {
		before := threadIOPriority(t)
		EnterBackground(WithBackground(context.Background()))
		got <- [2]int{before, threadIOPriority(t)}
	}()
	p := <-got
	if p[0]>>ioprioClassShift == ioprioClassIdle {
		t.Skip("the process already runs in the idle I/O class")
	}
	if p[1] != backgroundIOPriority {
		t.Errorf("background thread's I/O priority %#x, want %#x (idle class)", p[1], backgroundIOPriority)
	}
	go func() { got <- [2]int{0, threadIOPriority(t)} }()
	if p := <-got; p[1]>>ioprioClassShift == ioprioClassIdle {
		t.Error("a later goroutine runs in the idle I/O class")
	}
}

// TestEnterBackground: a goroutine doing background work runs on a thread
// at BackgroundNice; one doing other work keeps the process's priority.
func TestEnterBackground(t *testing.T) {
	base := make(chan int, 1)
	go func() {
		EnterBackground(t.Context()) // not marked: nothing changes
		base <- threadNice(t)
	}()
	start := <-base
	if start >= BackgroundNice {
		t.Skipf("the process already runs at nice %d", start)
	}
	got := make(chan int, 1)
	go func() {
		EnterBackground(WithBackground(context.Background()))
		got <- threadNice(t)
	}()
	if n := <-got; n != BackgroundNice {
		t.Errorf("background goroutine's thread at nice %d, want %d", n, BackgroundNice)
	}
	// The lowered thread ended with its goroutine: others keep the base.
	for range 20 {
		go func() { base <- threadNice(t) }()
		if n := <-base; n != start {
			t.Fatalf("a later goroutine ran at nice %d, want %d", n, start)
		}
	}
	if IsBackground(context.Background()) || !IsBackground(WithBackground(t.Context())) {
		t.Error("IsBackground does not tell marked contexts from others")
	}
}
