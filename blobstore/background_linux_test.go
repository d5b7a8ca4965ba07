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
