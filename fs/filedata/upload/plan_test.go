package upload

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore/quilt"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// planNow is the clock of the planner tests.
var planNow = time.Unix(1_000_000, 0)

// chunk is queue entry seq of size bytes, sealed ago before planNow.
func chunk(seq uint64, size int64, ago time.Duration) queued {
	return queued{
		Upload: index.Upload{Seq: seq, Ino: index.Ino(seq), StagingID: seq, SealedAt: planNow.Add(-ago).UnixNano(), Size: size},
		size:   size,
	}
}

// testPlanInput returns planner input at 10 shards (Kp 4, Ks 7: a quilt
// is 28·S bytes and takes at most 6 patches), chunks stored as they are
// and patch names sealed to 4 bytes, so that layouts can be worked out by
// hand: a patch of d bytes is 13+d bytes in the matrix, the index of k
// patches 6+8k bytes, and a quilt fits at symbol size S when
// ⌈index/4S⌉ + Σ ⌈patch/4S⌉ ≤ 7.
func testPlanInput(t testing.TB, chunks ...queued) planInput {
	t.Helper()
	p, err := rs2.NewParams(10)
	if err != nil {
		t.Fatal(err)
	}
	return planInput{
		chunks:        chunks,
		now:           planNow,
		threshold:     1500,
		maxBytes:      1500,
		maxPatches:    DefaultQuiltMaxPatches,
		maxAge:        10 * time.Second,
		planner:       quilt.NewPlanner(p),
		storedLen:     func(n int64) int64 { return n },
		sealedNameLen: func(int) int { return 4 },
	}
}

// describe writes a plan's uploads as "blob 3" and "quilt 1 2", in order.
func describe(bs []batch) []string {
	var out []string
	for _, b := range bs {
		kind := "quilt"
		if b.blob {
			kind = "blob"
		}
		out = append(out, kind+seqs(b.chunks))
	}
	return out
}

func seqs(chunks []queued) string {
	var b strings.Builder
	for _, q := range chunks {
		fmt.Fprintf(&b, " %d", q.Seq)
	}
	return b.String()
}

// TestPlan takes the packing rules one at a time, on queues small enough
// to lay out by hand (see testPlanInput).
func TestPlan(t *testing.T) {
	const fresh = time.Second
	tests := []struct {
		name   string
		chunks []queued
		// edit changes the input from testPlanInput's.
		edit    func(in *planInput)
		send    []string
		waiting string        // seqs of the waiting quilt, as seqs writes them
		wait    time.Duration // when something waits
	}{{
		name: "empty queue",
	}, {
		name:   "large chunks go as blobs in queue order, before quilts",
		chunks: []queued{chunk(1, 5000, fresh), chunk(2, 100, fresh), chunk(3, 1500, fresh), chunk(4, 50, fresh)},
		send:   []string{"blob 1", "blob 3"},
		// 13+50 and 13+100 bytes with an index of 22: at S=8 (32-byte
		// columns), 1+2+4 ≤ 7.
		waiting: " 4 2",
		wait:    9 * time.Second,
	}, {
		name:   "small chunks fill quilts by size",
		chunks: []queued{chunk(1, 300, fresh), chunk(2, 10, fresh), chunk(3, 200, fresh), chunk(4, 20, fresh)},
		edit:   func(in *planInput) { in.maxPatches = 2 },
		send:   []string{"quilt 2 4", "quilt 3 1"},
	}, {
		name:   "chunks of one size keep queue order",
		chunks: []queued{chunk(5, 100, fresh), chunk(2, 100, fresh), chunk(9, 100, fresh), chunk(1, 100, fresh)},
		edit:   func(in *planInput) { in.maxPatches = 3; in.flush = true },
		send:   []string{"quilt 5 2 9", "quilt 1"},
	}, {
		name: "overdue chunks first, then by size",
		chunks: []queued{
			chunk(1, 500, fresh), chunk(2, 100, fresh),
			chunk(3, 900, 20*time.Second), chunk(4, 800, 10*time.Second), // at or past QuiltMaxAge
		},
		// By size alone: quilt 2 1 4, then 3 waits.
		edit:    func(in *planInput) { in.maxPatches = 3; in.maxBytes = 1 << 20 },
		send:    []string{"quilt 4 3 2"},
		waiting: " 1",
		wait:    9 * time.Second,
	}, {
		name:    "a full quilt goes at once",
		chunks:  []queued{chunk(1, 10, fresh), chunk(2, 10, fresh), chunk(3, 10, fresh), chunk(4, 10, fresh), chunk(5, 10, fresh)},
		edit:    func(in *planInput) { in.maxPatches = 2 },
		send:    []string{"quilt 1 2", "quilt 3 4"},
		waiting: " 5",
		wait:    9 * time.Second,
	}, {
		name:   "a patch limit below 1 counts as 1",
		chunks: []queued{chunk(1, 10, fresh), chunk(2, 10, fresh)},
		edit:   func(in *planInput) { in.maxPatches = 0 },
		send:   []string{"quilt 1", "quilt 2"},
	}, {
		// 7 empty patches need 7 columns besides the index; 6 take
		// 1 + 6 at S=14.
		name:    "the encoding's own patch limit, Ks−1",
		chunks:  []queued{chunk(1, 0, fresh), chunk(2, 0, fresh), chunk(3, 0, fresh), chunk(4, 0, fresh), chunk(5, 0, fresh), chunk(6, 0, fresh), chunk(7, 0, fresh), chunk(8, 0, fresh)},
		edit:    func(in *planInput) { in.maxBytes = 1 << 20 },
		send:    []string{"quilt 1 2 3 4 5 6"},
		waiting: " 7 8",
		wait:    9 * time.Second,
	}, {
		// Three 100-byte chunks lay out at S=16 (448 bytes). With the
		// 1000-byte one the quilt needs S=86, 2408 bytes: over the limit
		// of 1500, though the data is only 1300. Alone it fits at S=44
		// (1232 bytes).
		name:    "QuiltMaxBytes bounds the quilt as laid out, not its data",
		chunks:  []queued{chunk(1, 1000, fresh), chunk(2, 100, fresh), chunk(3, 100, fresh), chunk(4, 100, fresh)},
		send:    []string{"quilt 2 3 4"},
		waiting: " 1",
		wait:    9 * time.Second,
	}, {
		// Alone, 1400 bytes need S=60: 1680 bytes, over 1500.
		name:   "a small chunk too large for a quilt alone goes as a blob",
		chunks: []queued{chunk(1, 100, fresh), chunk(2, 1400, fresh), chunk(3, 200, fresh)},
		edit:   func(in *planInput) { in.flush = true },
		send:   []string{"quilt 1 3", "blob 2"},
	}, {
		name:   "a chunk that does not fit closes the quilt before it",
		chunks: []queued{chunk(1, 100, fresh), chunk(2, 1400, fresh)},
		send:   []string{"quilt 1", "blob 2"},
	}, {
		// Alone, 1200 bytes fit at S=52 (1456 bytes); sealed with 40 bytes
		// more, they need S=54 (1512 bytes).
		name:   "sizes count as sealed",
		chunks: []queued{chunk(1, 1200, fresh)},
		edit:   func(in *planInput) { in.storedLen = func(n int64) int64 { return n + 40 } },
		send:   []string{"blob 1"},
	}, {
		name:   "sealed patch names count",
		chunks: []queued{chunk(1, 1200, fresh)},
		edit:   func(in *planInput) { in.sealedNameLen = func(int) int { return 44 } },
		send:   []string{"blob 1"},
	}, {
		name:    "a partial quilt waits",
		chunks:  []queued{chunk(1, 100, 3*time.Second), chunk(2, 100, 7*time.Second)},
		waiting: " 1 2",
		wait:    3 * time.Second,
	}, {
		name:   "a flush sends the partial quilt",
		chunks: []queued{chunk(1, 100, 3*time.Second), chunk(2, 100, 7*time.Second)},
		edit:   func(in *planInput) { in.flush = true },
		send:   []string{"quilt 1 2"},
	}, {
		name:   "a partial quilt goes when its oldest chunk has waited QuiltMaxAge",
		chunks: []queued{chunk(1, 100, fresh), chunk(2, 200, 10*time.Second)},
		send:   []string{"quilt 2 1"},
	}, {
		name:    "the wait is at least 10 ms",
		chunks:  []queued{chunk(1, 100, 10*time.Second-time.Nanosecond)},
		waiting: " 1",
		wait:    10 * time.Millisecond,
	}, {
		name:   "QuiltMaxAge 0 sends everything",
		chunks: []queued{chunk(1, 100, 0)},
		edit:   func(in *planInput) { in.maxAge = 0 },
		send:   []string{"quilt 1"},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := testPlanInput(t, tt.chunks...)
			if tt.edit != nil {
				tt.edit(&in)
			}
			before := slices.Clone(in.chunks)
			out := plan(in)
			if got := describe(out.send); !slices.Equal(got, tt.send) {
				t.Errorf("sends %q, want %q", got, tt.send)
			}
			if got := seqs(out.waiting); got != tt.waiting {
				t.Errorf("waiting:%s, want:%s", got, tt.waiting)
			}
			if out.wait != tt.wait {
				t.Errorf("wait %v, want %v", out.wait, tt.wait)
			}
			if !slices.Equal(in.chunks, before) {
				t.Error("plan reordered its input")
			}
		})
	}
}

// FuzzPlan plans random queues under random limits, with stored lengths
// and sealed names as the codec makes them in the clear and encrypted, and
// checks what every plan must hold: each chunk goes or waits exactly once;
// large chunks go first, as blobs, in queue order; a blob is one chunk,
// small only if no quilt could take it alone; a quilt, sent or waiting, is
// within the patch limit and within QuiltMaxBytes as laid out; a flush
// leaves nothing waiting; what waits has not aged, is not full, and its
// wait is the time until it ages.
//
// A queue is 3 bytes a chunk: a big-endian size, and how long ago it was
// sealed in tenths of a second.
func FuzzPlan(f *testing.F) {
	f.Add([]byte{0, 100, 1, 0, 10, 200, 3, 0, 1, 1, 0, 0, 0, 5, 50}, uint16(1000), uint32(16<<10), uint8(5), uint8(50), false, uint8(36), false)
	f.Add([]byte{1, 0, 0, 2, 0, 0, 0, 1, 0, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, uint16(600), uint32(2000), uint8(0), uint8(0), true, uint8(0), true)
	f.Add([]byte{0xff, 0xff, 0xff, 0x10, 0, 0, 0x7f, 0, 20, 0, 3, 99}, uint16(0xffff), uint32(1<<20), uint8(200), uint8(255), false, uint8(96), true)
	codecs := map[bool]*blockcrypt.Codec{}
	for _, enc := range []bool{false, true} {
		var key *blockcrypt.Key
		if enc {
			key = &blockcrypt.Key{7}
		}
		c, err := blockcrypt.NewCodec(blockcrypt.Layout{BlockSize: 4096, Encrypted: enc}, key)
		if err != nil {
			f.Fatal(err)
		}
		codecs[enc] = c
	}
	f.Fuzz(func(t *testing.T, queue []byte, threshold uint16, maxBytes uint32, maxPatches, maxAge uint8, flush bool, shards uint8, encrypted bool) {
		p, err := rs2.NewParams(rs2.MinShards + int(shards)%97)
		if err != nil {
			t.Fatal(err)
		}
		codec := codecs[encrypted]
		in := planInput{
			now:           planNow,
			flush:         flush,
			threshold:     int64(threshold),
			maxBytes:      int64(maxBytes),
			maxPatches:    1 + int(maxPatches)%40,
			maxAge:        time.Duration(maxAge) * 100 * time.Millisecond,
			planner:       quilt.NewPlanner(p),
			storedLen:     codec.Layout().StoredLen,
			sealedNameLen: codec.SealedNameLen,
		}
		if smallest := 2 * int64(p.Kp) * int64(p.Ks); in.maxBytes > 0 && in.maxBytes < smallest {
			// New refuses a limit below the smallest quilt (symbol
			// size 2), which quilt.Planner does not hold.
			in.maxBytes = smallest
		}
		for i := 0; i+3 <= len(queue) && len(in.chunks) < 500; i += 3 {
			size := int64(queue[i])<<8 | int64(queue[i+1])
			in.chunks = append(in.chunks, chunk(uint64(i/3+1), size, time.Duration(queue[i+2])*100*time.Millisecond))
		}
		out := plan(in)

		seen := map[uint64]int{}
		for _, b := range out.send {
			for _, q := range b.chunks {
				seen[q.Seq]++
			}
		}
		for _, q := range out.waiting {
			seen[q.Seq]++
		}
		for _, q := range in.chunks {
			if seen[q.Seq] != 1 {
				t.Fatalf("chunk %d is planned %d times: sends %q, waiting:%s", q.Seq, seen[q.Seq], describe(out.send), seqs(out.waiting))
			}
		}
		if len(seen) != len(in.chunks) {
			t.Fatalf("%d chunks planned, %d queued", len(seen), len(in.chunks))
		}

		// fits re-plans chunks as one quilt, in order, on a fresh planner.
		fits := func(chunks []queued) bool {
			pl := quilt.NewPlanner(p)
			for _, q := range chunks {
				if !pl.Add(codec.SealedNameLen(len(patchName(q))), nil, int(codec.Layout().StoredLen(q.size)), in.maxBytes) {
					return false
				}
			}
			return in.maxBytes <= 0 || pl.BlobLen() <= in.maxBytes
		}
		var large []uint64
		for _, q := range in.chunks {
			if q.size >= in.threshold {
				large = append(large, q.Seq)
			}
		}
		for i, b := range out.send {
			switch {
			case i < len(large):
				if !b.blob || len(b.chunks) != 1 || b.chunks[0].Seq != large[i] {
					t.Fatalf("upload %d is %q; want the large chunk %d as a blob", i, describe(out.send[i:i+1]), large[i])
				}
			case b.blob:
				if len(b.chunks) != 1 {
					t.Fatalf("a blob of %d chunks", len(b.chunks))
				}
				if q := b.chunks[0]; q.size >= in.threshold || fits(b.chunks) {
					t.Fatalf("chunk %d of %d bytes (threshold %d) goes as a blob after the large ones, though a quilt takes it", q.Seq, q.size, in.threshold)
				}
			default:
				checkQuilt(t, in, b.chunks, fits)
			}
		}
		if len(out.waiting) == 0 {
			if out.wait != 0 {
				t.Fatalf("nothing waits, yet the wait is %v", out.wait)
			}
			return
		}
		if flush {
			t.Fatalf("a flush leaves %d chunks waiting", len(out.waiting))
		}
		checkQuilt(t, in, out.waiting, fits)
		if len(out.waiting) >= in.maxPatches {
			t.Fatalf("a full quilt of %d patches waits", len(out.waiting))
		}
		aged := oldestSeal(out.waiting).Add(in.maxAge).Sub(in.now)
		if aged <= 0 {
			t.Fatalf("a quilt that aged %v ago waits", -aged)
		}
		if want := max(minQuiltWait, aged); out.wait != want {
			t.Fatalf("wait %v; want %v", out.wait, want)
		}
	})
}

// checkQuilt fails t unless chunks make a quilt plan could send: small
// chunks, within the patch limit and, as laid out, within QuiltMaxBytes.
func checkQuilt(t *testing.T, in planInput, chunks []queued, fits func([]queued) bool) {
	t.Helper()
	if len(chunks) == 0 || len(chunks) > in.maxPatches {
		t.Fatalf("a quilt of %d patches; the limit is %d", len(chunks), in.maxPatches)
	}
	for _, q := range chunks {
		if q.size >= in.threshold {
			t.Fatalf("chunk %d of %d bytes is in a quilt; the threshold is %d", q.Seq, q.size, in.threshold)
		}
	}
	if !fits(chunks) {
		t.Fatalf("quilt%s is over %d bytes as laid out", seqs(chunks), in.maxBytes)
	}
}
