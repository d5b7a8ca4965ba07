package filedata

import (
	"bytes"
	"context"
	"testing"
	"time"
)

// TestUploadsYieldToReads: while a read of staged data is in flight (its
// reply still being spliced to the kernel), uploads hold their disk I/O
// back, and go once it ends; under reads that never end, they still
// finish, a piece per maximum wait, so waiting for uploads (fsync
// certified, unmount) ends too. Uploads do not wait while writers need
// staging room.
func TestUploadsYieldToReads(t *testing.T) {
	for _, tc := range []struct {
		name           string
		quiet, maxWait time.Duration
		budget         int64
		endFirst       bool // the read ends before the uploads can finish
		noWait         bool // no upload waits at all
	}{
		{name: "waits for the read", maxWait: time.Hour, endFirst: true},
		{name: "goes on under reads that never end", quiet: time.Hour, maxWait: time.Millisecond},
		{name: "not while staging is tight", maxWait: time.Hour, budget: 4 * testChunk, noWait: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			te := openEngine(t, t.TempDir(), func(c *Config) {
				c.YieldQuiet, c.YieldMaxWait = tc.quiet, tc.maxWait
				c.StagingBudget = tc.budget
			})
			// A file with a local copy, read from it while the other uploads.
			r := te.open(t, te.create(t, "read"))
			defer func() { _ = r.Release() }()
			if err := r.Write(t.Context(), randBytes(1, testChunk), 0); err != nil {
				t.Fatal(err)
			}
			waitUploaded(t, te)
			held := r.ReadStaged(0, 4096)
			if held == nil {
				t.Fatal("no staged read of a chunk with a local copy")
			}
			defer held.Done()

			ino := te.create(t, "upload")
			u := te.open(t, ino)
			defer func() { _ = u.Release() }()
			data := randBytes(2, 2*testChunk+5000) // two blobs and a quilt patch
			if err := u.Write(t.Context(), data, 0); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- te.WaitUploaded(ctx) }()
			if tc.endFirst {
				for {
					if now, _ := te.reads.Waiting(); now > 0 {
						break
					}
					select {
					case <-done:
						t.Fatal("uploads finished while a read was in flight")
					case <-time.After(time.Millisecond):
					}
				}
				held.Done()
			}
			if err := <-done; err != nil {
				t.Fatalf("waiting for uploads: %v", err)
			}
			if _, waits := te.reads.Waiting(); (waits == 0) != tc.noWait {
				t.Errorf("uploads waited %d times for the read in flight", waits)
			}
			if st, err := te.Status(ino); err != nil || st.State != Certified {
				t.Fatalf("status after upload: %+v, %v", st, err)
			}
			if err := te.DropLocalCopies(t.Context()); err != nil {
				t.Fatal(err)
			}
			if got := readAll(t, u, len(data)); !bytes.Equal(got, data) {
				t.Fatal("read from the store differs")
			}
		})
	}
}
