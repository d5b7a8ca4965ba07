package index

import (
	"slices"
	"syscall"
	"testing"
)

// problems runs Verify and returns the problems by kind.
func problems(t *testing.T, x *Index) map[ProblemKind][]Problem {
	t.Helper()
	out := map[ProblemKind][]Problem{}
	if err := x.Verify(func(p Problem) { out[p.Kind] = append(out[p.Kind], p) }); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestVerifyFindsDamageAndRepairsCounts damages the index in the ways fsck
// must notice, checks each is reported with what names it, and that the
// repairs fix what they say and nothing else.
func TestVerifyFindsDamageAndRepairsCounts(t *testing.T) {
	x := openTest(t, t.TempDir())
	d := must(x.Create(RootIno, "docs", dirNode()))
	sub := must(x.Create(d.Ino, "2026", dirNode()))
	f := must(x.Create(sub.Ino, "report", file(0o644)))
	g := must(x.Create(RootIno, "g", file(0o644)))
	must(x.NewStagedChunk(f.Ino, 0))
	must(x.NewStagedChunk(g.Ino, 0))
	sealAll(x, f.Ino, 1)
	sealAll(x, g.Ino, 1)
	ups := must(x.Uploads(0, 10))
	blob := Blob{ID: [32]byte{9}, Kind: BlobStandalone, State: BlobCertified, Size: 300}
	must(x.CompleteUploads(blob, []UploadResult{{Upload: ups[0], Stored: storedAt(100)}, {Upload: ups[1], Stored: storedAt(200)}}))
	if p := problems(t, x); len(p) != 0 {
		t.Fatalf("problems in a healthy index: %+v", p)
	}

	noErr(t, x.update(func(w *wtx) error {
		b, err := decodeBlob(blob.ID[:], w.get(bBlobs, blob.ID[:]))
		if err != nil {
			return err
		}
		b.Refs, b.LiveBytes = 7, 1
		if err := w.put(bBlobs, blob.ID[:], encodeBlob(&b)); err != nil {
			return err
		}
		if err := w.put(bDirents, direntKey(d.Ino, "ghost"), encodeDirent(4242, syscall.S_IFREG)); err != nil {
			return err
		}
		return w.put(bMeta, keyInodeCount, u64(99))
	}))
	t.Cleanup(func() { noErr(t, x.update(func(w *wtx) error { return w.del(bDirents, direntKey(d.Ino, "ghost")) })) })
	p := problems(t, x)
	if c := p[ProblemBlobCount]; len(c) != 1 || c[0].Blob != blob.ID || !c[0].Repairable {
		t.Errorf("blob count problem: %+v", c)
	}
	if e := p[ProblemEntryTarget]; len(e) != 1 || e[0].Parent != d.Ino || e[0].Name != "ghost" || e[0].Ino != 4242 || e[0].Repairable {
		t.Errorf("entry naming a missing inode: %+v", e)
	}
	if c := p[ProblemInodeCount]; len(c) != 1 {
		t.Errorf("inode counter: %+v", c)
	}
	if len(p) != 3 {
		t.Errorf("problems %+v, want these three", p)
	}

	paths := must(x.Paths([]Ino{f.Ino, sub.Ino, g.Ino, RootIno, 4242}))
	// The missing inode is named by the entry that names it.
	want := map[Ino]string{f.Ino: "/docs/2026/report", sub.Ino: "/docs/2026", g.Ino: "/g", RootIno: "/", 4242: "/docs/ghost"}
	if len(paths) != len(want) {
		t.Errorf("paths %v, want %v", paths, want)
	}
	for ino, w := range want {
		if paths[ino] != w {
			t.Errorf("path of %d: %q, want %q", ino, paths[ino], w)
		}
	}

	changed := must(x.RecountBlobs([][32]byte{blob.ID, {1}}))
	if len(changed) != 1 || changed[0].Refs != 7 {
		t.Fatalf("recount changed %+v", changed)
	}
	if b, _, _ := x.BlobInfo(blob.ID); b.Refs != 2 || b.LiveBytes != 300 {
		t.Fatalf("after recount: %d references, %d live bytes", b.Refs, b.LiveBytes)
	}
	if was, now, err := x.RecountInodes(); err != nil || was != 99 || now != 5 {
		t.Fatalf("recount inodes: %d → %d, %v", was, now, err)
	}
	p = problems(t, x)
	if len(p) != 1 || len(p[ProblemEntryTarget]) != 1 {
		t.Fatalf("after the repairs: %+v, want only the entry", p)
	}
}

// TestRequeueFromLocalCopy: a stored chunk with a local copy goes back to
// the queue, its blob loses the reference, and a chunk that changed is
// left alone.
func TestRequeueFromLocalCopy(t *testing.T) {
	x := openTest(t, t.TempDir())
	f := must(x.Create(RootIno, "f", file(0o644)))
	r := must(x.NewStagedChunk(f.Ino, 0))
	sealAll(x, f.Ino, 1)
	ups := must(x.Uploads(0, 10))
	blob := Blob{ID: [32]byte{5}, Kind: BlobStandalone, State: BlobCertified, Size: 100}
	must(x.CompleteUploads(blob, []UploadResult{{Upload: ups[0], Stored: storedAt(100)}}))

	if _, ok, err := x.Requeue(f.Ino, 0, [32]byte{6}, r.StagingID, r.StagingID, 100, 2); ok || err != nil {
		t.Fatalf("requeue naming another blob: %v %v", ok, err)
	}
	ref, ok, err := x.Requeue(f.Ino, 0, blob.ID, r.StagingID, r.StagingID, 100, 2)
	if !ok || err != nil || ref.Kind != ChunkStaged || !ref.Sealed || ref.StagingID != r.StagingID {
		t.Fatalf("requeue: %+v %v %v", ref, ok, err)
	}
	if b, _, _ := x.BlobInfo(blob.ID); b.Refs != 0 || b.LiveBytes != 0 {
		t.Fatalf("the blob keeps %d references", b.Refs)
	}
	q := must(x.Uploads(ups[0].Seq, 10))
	if len(q) != 1 || q[0].Ino != f.Ino || q[0].StagingID != r.StagingID || q[0].Size != 100 {
		t.Fatalf("queue %+v", q)
	}
	if _, ok, _ := x.Requeue(f.Ino, 0, blob.ID, r.StagingID, r.StagingID, 100, 3); ok {
		t.Fatal("a staged chunk requeued again")
	}
	used := must(x.Referenced([][32]byte{blob.ID}))
	if used[blob.ID] {
		t.Fatal("Referenced says a blob without chunk references is used")
	}
	if got := slices.Collect(func(yield func(Ino) bool) {
		page, _, _ := x.ChunkPage(0, 0, 10)
		for _, e := range page {
			if !yield(e.Ino) {
				return
			}
		}
	}); len(got) != 1 || got[0] != f.Ino {
		t.Fatalf("chunk page %v", got)
	}
}
