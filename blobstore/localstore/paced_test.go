package localstore

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
)

// backgroundPut runs a Put of data under background work that yields to f
// and returns its result channel.
func backgroundPut(t *testing.T, s *Store, f *blobstore.Foreground, data []byte) <-chan blobstore.Info {
	t.Helper()
	ctx := blobstore.WithForeground(blobstore.WithBackground(t.Context()), f)
	done := make(chan blobstore.Info, 1)
	go func() {
		info, err := s.Put(ctx, bytes.NewReader(data), int64(len(data)), blobstore.PutOptions{})
		if err != nil {
			t.Errorf("Put: %v", err)
		}
		done <- info
	}()
	return done
}

// TestPutYieldsToForeground: a Put done as background work (an upload)
// holds its writes back while the foreground it yields to has a request in
// flight, and finishes once the request ends; under requests that never
// end it still finishes, a piece per maximum wait. Either way the blob is
// whole.
func TestPutYieldsToForeground(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 40))
	data := lcg(7, 3*pacedPiece) // several pieces of slivers per directory

	t.Run("waits for the request", func(t *testing.T) {
		f := blobstore.NewForeground(0, time.Hour)
		end := f.Begin()
		done := backgroundPut(t, s, f, data)
		for {
			if now, _ := f.Waiting(); now > 0 {
				break
			}
			select {
			case <-done:
				t.Fatal("the Put finished while a request was in flight")
			case <-time.After(time.Millisecond):
			}
		}
		end()
		info := <-done
		checkBytes(t, "blob", mustRead(t, s, info.ID, 0, int64(len(data))), data)
	})

	t.Run("goes on under requests that never end", func(t *testing.T) {
		f := blobstore.NewForeground(time.Hour, time.Millisecond)
		defer f.Begin()()
		info := <-backgroundPut(t, s, f, append([]byte("another blob"), data...))
		if _, waits := f.Waiting(); waits < 2 {
			t.Errorf("the Put yielded %d times, want one per piece", waits)
		}
		checkBytes(t, "blob", mustRead(t, s, info.ID, 12, int64(len(data))), data)
	})

	t.Run("foreground work does not wait", func(t *testing.T) {
		f := blobstore.NewForeground(time.Hour, time.Hour)
		defer f.Begin()()
		ctx := blobstore.WithForeground(context.Background(), f)
		if _, err := s.Put(ctx, bytes.NewReader(data[1:]), int64(len(data)-1), blobstore.PutOptions{}); err != nil {
			t.Fatal(err)
		}
	})
}
