package upload

import (
	"cmp"
	"slices"
	"time"

	"github.com/walrusfs/walrusfs/blobstore/quilt"
)

// batch is one upload: a standalone blob of one chunk, or a quilt of one or
// more chunks, one patch each.
type batch struct {
	chunks []queued
	blob   bool
}

// planInput is what plan decides from.
type planInput struct {
	// chunks are the queued chunks not in flight, in queue order.
	chunks []queued
	now    time.Time
	// flush asks for the last partial quilt to go now.
	flush bool
	// threshold, maxBytes and maxAge are Config's QuiltThreshold,
	// QuiltMaxBytes and QuiltMaxAge. maxPatches is QuiltMaxPatches, or
	// less when the store refused larger quilts; below 1 it counts as 1.
	threshold, maxBytes int64
	maxPatches          int
	maxAge              time.Duration
	// planner lays quilts out at the store's quilt shard count. plan
	// resets it before use and leaves it holding an unspecified plan.
	planner *quilt.Planner
	// storedLen is the length of a chunk of plainLen bytes once sealed
	// (blockcrypt.Layout.StoredLen); sealedNameLen is the length of a
	// patch name of nameLen bytes once sealed (blockcrypt.Codec.SealedNameLen).
	storedLen     func(plainLen int64) int64
	sealedNameLen func(nameLen int) int
}

// planOutput is what plan decided.
type planOutput struct {
	// send are the uploads to start now, in order.
	send []batch
	// waiting is the last, partly filled quilt, held back for more chunks
	// (nil when none is); wait is how long until its oldest chunk has
	// waited maxAge, at least minQuiltWait.
	waiting []queued
	wait    time.Duration
}

// minQuiltWait is the least wait plan reports for a waiting quilt, so that
// a quilt about to age does not spin the scheduler.
const minQuiltWait = 10 * time.Millisecond

// plan decides which chunks go into which upload, and which wait. It has
// no side effects but on in.planner.
//
// Chunks of at least threshold bytes go as standalone blobs, first and in
// queue order. Smaller chunks fill quilts in order of size: every patch
// takes whole columns, so one large patch among small ones inflates them
// all, and chunks of like sizes waste the least (a third less stored for a
// Go source tree). Chunks that have waited maxAge (sealed at or before
// now−maxAge) come first, so a stream of small chunks cannot starve larger
// ones; the sort is stable, so chunks of one size keep their queue order.
//
// A quilt is full when the next chunk would take it past maxBytes as laid
// out (see quilt.Planner; chunk and patch name counted as sealed) or past
// maxPatches; a full quilt goes at once. A chunk too large for any quilt on
// its own goes as a blob. The last, partial quilt goes when its oldest chunk
// has waited maxAge or a flush asks; otherwise it waits.
func plan(in planInput) planOutput {
	var out planOutput
	maxPatches := max(in.maxPatches, 1)
	var small []queued
	for _, q := range in.chunks {
		if q.size >= in.threshold {
			out.send = append(out.send, batch{chunks: []queued{q}, blob: true})
			continue
		}
		small = append(small, q)
	}
	overdue := in.now.Add(-in.maxAge).UnixNano()
	slices.SortStableFunc(small, func(a, b queued) int {
		if ao, bo := a.SealedAt <= overdue, b.SealedAt <= overdue; ao != bo {
			if ao {
				return -1
			}
			return 1
		}
		return cmp.Compare(a.size, b.size)
	})
	pl := in.planner
	pl.Reset()
	var cur []queued
	for _, q := range small {
		if !in.addPatch(pl, q, maxPatches) {
			if len(cur) > 0 {
				out.send = append(out.send, batch{chunks: cur})
				cur = nil
				pl.Reset()
			}
			if !in.addPatch(pl, q, maxPatches) {
				out.send = append(out.send, batch{chunks: []queued{q}, blob: true})
				continue
			}
		}
		cur = append(cur, q)
		if pl.Len() == maxPatches {
			out.send = append(out.send, batch{chunks: cur})
			cur = nil
			pl.Reset()
		}
	}
	if len(cur) > 0 {
		oldest := oldestSeal(cur)
		if in.flush || in.now.Sub(oldest) >= in.maxAge {
			out.send = append(out.send, batch{chunks: cur})
		} else {
			out.waiting = cur
			out.wait = max(minQuiltWait, oldest.Add(in.maxAge).Sub(in.now))
		}
	}
	return out
}

// addPatch adds q to the quilt pl plans if the quilt then stays within
// in.maxBytes as laid out and within maxPatches.
func (in *planInput) addPatch(pl *quilt.Planner, q queued, maxPatches int) bool {
	if pl.Len() >= maxPatches {
		return false
	}
	return pl.Add(in.sealedNameLen(len(patchName(q))), nil, int(in.storedLen(q.size)), in.maxBytes)
}

// oldestSeal is when the longest-waiting chunk of chunks was sealed.
func oldestSeal(chunks []queued) time.Time {
	oldest := chunks[0].SealedAt
	for _, q := range chunks[1:] {
		oldest = min(oldest, q.SealedAt)
	}
	return time.Unix(0, oldest)
}
