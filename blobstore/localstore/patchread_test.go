package localstore

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/blobstore"
)

// writeRecorder records the size of each write it takes.
type writeRecorder struct {
	bytes.Buffer
	writes []int
}

func (w *writeRecorder) Write(p []byte) (int, error) {
	w.writes = append(w.writes, len(p))
	return w.Buffer.Write(p)
}

// readPatchThreeWays reads patch i of qi with io.ReadAll, with reads of 7
// bytes, and with WriteTo, checks all three against want and the reader's
// Size, and returns the sizes of WriteTo's writes and the largest buffer
// a reader read into.
func readPatchThreeWays(t *testing.T, s *Store, p blobstore.StoredPatch, want []byte) (writes []int, held int) {
	t.Helper()
	open := func() *patchReader {
		t.Helper()
		rc, err := s.ReadPatch(t.Context(), p.PatchID)
		if err != nil {
			t.Fatalf("ReadPatch(%.20q): %v", p.Identifier, err)
		}
		pr := rc.(*patchReader)
		if pr.Size() != int64(len(want)) {
			t.Fatalf("patch %.20q: Size() = %d, want %d", p.Identifier, pr.Size(), len(want))
		}
		return pr
	}
	pr := open()
	got, err := io.ReadAll(pr)
	held = max(held, len(pr.buf))
	_ = pr.Close()
	if err != nil {
		t.Fatalf("patch %.20q: ReadAll: %v", p.Identifier, err)
	}
	checkBytes(t, "patch "+p.Identifier+" read whole", got, want)

	pr = open()
	var small bytes.Buffer
	if _, err := io.CopyBuffer(&small, struct{ io.Reader }{pr}, make([]byte, 7)); err != nil {
		t.Fatalf("patch %.20q: reads of 7 bytes: %v", p.Identifier, err)
	}
	_ = pr.Close()
	checkBytes(t, "patch "+p.Identifier+" read 7 bytes at a time", small.Bytes(), want)

	pr = open()
	var rec writeRecorder
	n, err := pr.WriteTo(&rec)
	held = max(held, len(pr.buf))
	_ = pr.Close()
	if err != nil || n != int64(len(want)) {
		t.Fatalf("patch %.20q: WriteTo = %d, %v; want %d", p.Identifier, n, err, len(want))
	}
	checkBytes(t, "patch "+p.Identifier+" written", rec.Bytes(), want)
	if _, err := pr.Read(make([]byte, 1)); err == nil {
		t.Fatalf("patch %.20q: read after Close succeeded", p.Identifier)
	}
	return rec.writes, held
}

// A patch is read a group of columns at a time: whatever its size, a
// reader holds one group, and a header longer than a group (long tags) is
// still parsed. Without sliver trees (a quilt at few shards) a group is a
// whole number of columns checked together.
func TestPatchReadStreamsByGroups(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 40))
	tags := map[string]string{"long": strings.Repeat("t", 60_000), "k": "v"}
	parts := []blobstore.QuiltPart{
		{Identifier: "big", Data: lcg(1, 300_000)},
		{Identifier: "long-header " + strings.Repeat("i", 300), Data: lcg(2, 5000), Tags: tags},
		{Identifier: "one byte", Data: []byte{42}},
		{Identifier: "empty", Data: nil},
	}
	qi, err := s.PutQuilt(t.Context(), parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.patchGroup = 1 // one column (no trees) per group
	rd, err := s.openReader(t.Context(), qi.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	colBytes := rd.lay.Kp * rd.lay.SymbolSize
	if keepsTrees(rd.rec.Shards, rd.lay) {
		t.Fatal("the quilt keeps sliver trees; this test wants one without")
	}
	if colBytes >= 60_000 {
		t.Fatalf("columns of %d bytes hold the long header whole; the test wants it to span columns", colBytes)
	}
	for i, p := range qi.Patches {
		var want []byte
		for _, part := range parts {
			if part.Identifier == p.Identifier {
				want = part.Data
			}
		}
		writes, held := readPatchThreeWays(t, s, p, want)
		if held > colBytes {
			t.Errorf("patch %d (%.20q): a reader held %d bytes, more than one group (%d)", i, p.Identifier, held, colBytes)
		}
		cols := int(p.PatchID.End - p.PatchID.Start)
		if len(want) > 2*colBytes && len(writes) < cols-1 {
			t.Errorf("patch %d (%.20q) of %d columns written in %d writes %v; want one per column", i, p.Identifier, cols, len(writes), writes)
		}
		for _, w := range writes {
			if w > colBytes {
				t.Errorf("patch %d (%.20q): a write of %d bytes, more than one group (%d)", i, p.Identifier, w, colBytes)
			}
		}
	}
}

// With sliver trees, groups end on tree nodes and a patch's last column
// is read only down to the last row the patch fills: damage below it, in
// the column's padding, is never read, so nothing is reconstructed or
// repaired, and a patch spanning several groups reads right.
func TestPatchReadSkipsPaddingRows(t *testing.T) {
	cfg := testConfig(t, 1, 10)
	cfg.QuiltShards = 200
	s, logs := openStore(t, cfg)
	parts := []blobstore.QuiltPart{{Identifier: "large", Data: lcg(9, 700_000)}}
	for i := range 8 {
		parts = append(parts, blobstore.QuiltPart{Identifier: fmt.Sprintf("small%d", i), Data: lcg(uint32(i)+10, 300+i*50)})
	}
	qi, rd := putQuiltWithTrees(t, s, parts)
	sym, kp := rd.lay.SymbolSize, rd.lay.Kp
	byName := map[string]blobstore.StoredPatch{}
	for _, p := range qi.Patches {
		byName[p.Identifier] = p
	}

	// Damage the last row of a small patch's only column.
	small := byName["small3"]
	if small.PatchID.End-small.PatchID.Start != 1 {
		t.Fatalf("patch small3 takes columns [%d, %d); the test wants one column", small.PatchID.Start, small.PatchID.End)
	}
	path, off, _ := sliverAt(t, s, qi.Blob.ID, kp-1)
	at := off + int64(small.PatchID.Start)*int64(sym) + 1
	flipByte(t, path, at)
	damaged, _ := readAt(path, at, 1)
	readPatchThreeWays(t, s, small, parts[4].Data)
	if now, _ := readAt(path, at, 1); now[0] != damaged[0] || strings.Contains(logs.String(), "unusable") || strings.Contains(logs.String(), "reconstructing") {
		t.Fatalf("reading patch small3 read its column's padding rows; logs:\n%s", logs.String())
	}

	// A patch over several groups of whole nodes reads right, one group
	// at a time.
	s.patchGroup = 1
	large := byName["large"]
	writes, held := readPatchThreeWays(t, s, large, parts[0].Data)
	bt, ok := s.trees.Get(qi.Blob.ID)
	if !ok {
		t.Fatal("no trees loaded")
	}
	group := (1 << bt.trees[0].Level) * kp * sym
	if held > group || len(writes) < 2 {
		t.Errorf("patch of %d bytes read holding %d bytes in %d writes; want at most a node of columns (%d) per write", len(parts[0].Data), held, len(writes), group)
	}

	// Damage in a later group: the read goes on from whole slivers (which
	// reconstruct, or come verified from the sliver cache) and still
	// returns the right bytes.
	node := 1 << bt.trees[0].Level
	late := (int(large.PatchID.Start)/node + 2) * node
	if late >= int(large.PatchID.End)-1 {
		t.Fatalf("patch large takes columns [%d, %d): too few for a third group of %d", large.PatchID.Start, large.PatchID.End, node)
	}
	path, off, _ = sliverAt(t, s, qi.Blob.ID, 5)
	at = off + int64(late*sym) + 3
	flipByte(t, path, at)
	logs.Reset()
	readPatchThreeWays(t, s, large, parts[0].Data)
	if !strings.Contains(logs.String(), fmt.Sprintf("columns=\"[%d, %d)\"", late, large.PatchID.End)) {
		t.Fatalf("damage in the patch's third group (column %d, node %d, patch [%d, %d), S %d) went unnoticed; logs:\n%s", late, node, large.PatchID.Start, large.PatchID.End, sym, logs.String())
	}
}

// The first patch read of a quilt sweeps the quilt's systematic slivers
// into the page cache in the background: a sweep reads its region, ends
// on its own, never runs more than maxSweeps at once, and stops when the
// store closes.
func TestPatchReadSweepsTheQuilt(t *testing.T) {
	cfg := testConfig(t, 1, 10)
	cfg.QuiltShards = 200
	s, _ := openStore(t, cfg)
	qi, err := s.PutQuilt(t.Context(), smallParts(40, 20_000), blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rd, err := s.openReader(t.Context(), qi.Blob.ID)
	if err != nil {
		t.Fatal(err)
	}
	path, off, size := sliverAt(t, s, qi.Blob.ID, 0)
	region := int64(rd.lay.Kp) * size
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	drop := func() {
		t.Helper()
		if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			t.Skipf("cannot drop the file from the page cache: %v", err)
		}
		if n := residentPages(t, f, off, region); n > 0 {
			t.Skipf("%d pages of the slivers stay cached after DONTNEED (a memory filesystem?): nothing to measure", n)
		}
	}
	settle := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for len(s.sweeps) > 0 && time.Now().Before(deadline) {
			time.Sleep(5 * time.Millisecond)
		}
		if len(s.sweeps) > 0 {
			t.Fatal("a sweep did not end")
		}
	}
	page := int64(os.Getpagesize())
	pages := int((off+region+page-1)/page - off/page)

	// The first patch read sweeps; later ones do not.
	rc, err := s.ReadPatch(t.Context(), qi.Patches[0].PatchID)
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	st, ok := s.swept.Get(qi.Blob.ID)
	if !ok || !st.started.Load() {
		t.Fatal("the first patch read of the quilt did not sweep it")
	}
	settle()
	if !st.done() {
		t.Fatal("the quilt's sweep ended but is not done")
	}

	// A sweep reads its whole region.
	drop()
	if !s.sweep(path, off, region, &sweepState{}) {
		t.Fatal("no sweep started with none running")
	}
	settle()
	if n := residentPages(t, f, off, region); n < pages {
		t.Fatalf("%d of the %d pages of the quilt's systematic slivers are cached after a sweep", n, pages)
	}

	// At most maxSweeps at once.
	for range maxSweeps {
		s.sweeps <- struct{}{}
	}
	if s.sweep(path, off, region, &sweepState{}) {
		t.Fatalf("a sweep started with %d running", maxSweeps)
	}
	for range maxSweeps {
		<-s.sweeps
	}

	// A closed store's sweep reads nothing.
	drop()
	_ = s.Close()
	s.sweep(path, off, region, &sweepState{})
	settle()
	if n := residentPages(t, f, off, region); n > pages/2 {
		t.Fatalf("a sweep of a closed store read %d of %d pages", n, pages)
	}
}

// residentPages counts the pages of [off, off+n) of f in the page cache.
func residentPages(t *testing.T, f *os.File, off, n int64) int {
	t.Helper()
	page := int64(os.Getpagesize())
	start := off / page * page
	m, err := unix.Mmap(int(f.Fd()), start, int(off+n-start), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (len(m)+int(page)-1)/int(page))
	if _, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(&m[0])), uintptr(len(m)), uintptr(unsafe.Pointer(&vec[0]))); errno != 0 {
		t.Fatal(errno)
	}
	resident := 0
	for _, v := range vec {
		resident += int(v & 1)
	}
	return resident
}
