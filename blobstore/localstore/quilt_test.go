package localstore

import (
	"context"
	"errors"
	"io"
	"os"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// The quilt and patch IDs of testdata/quilt_vectors.json case
// "single_hello" at n = 10.
func TestQuiltMatchesWalrus(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 2, 10))
	qi, err := s.PutQuilt(context.Background(), []blobstore.QuiltPart{{Identifier: "a.txt", Data: []byte("hello")}}, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := qi.Blob.ID.String(), "jCgr84U7BEUuIIZK41e4YBQLPqQl7bgmxVaeFM0CzPc"; got != want {
		t.Errorf("quilt ID %s, want %s", got, want)
	}
	if len(qi.Patches) != 1 || qi.Patches[0].PatchID.String() != "jCgr84U7BEUuIIZK41e4YBQLPqQl7bgmxVaeFM0CzPcBAgAFAA" {
		t.Fatalf("patches %+v", qi.Patches)
	}
	rc, err := s.ReadPatch(context.Background(), qi.Patches[0].PatchID)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if b, err := io.ReadAll(rc); err != nil || string(b) != "hello" {
		t.Errorf("patch = %q, %v", b, err)
	}
}

// Patches and the index read through damage: a corrupt sliver and lost
// directories.
func TestQuiltThroughDamage(t *testing.T) {
	s, _ := openStore(t, testConfig(t, 10, 10))
	ctx := context.Background()
	parts := []blobstore.QuiltPart{
		{Identifier: "b.bin", Data: lcg(1, 40_000)},
		{Identifier: "a.txt", Data: []byte("small"), Tags: map[string]string{"k": "v"}},
		{Identifier: "c", Data: lcg(2, 3)},
	}
	qi, err := s.PutQuilt(ctx, parts, blobstore.PutOptions{})
	if err != nil {
		t.Fatal(err)
	}
	flipSliverByte(t, s, qi.Blob.ID, 0, 1)
	for _, d := range []int{1, 7, 9} {
		if err := os.RemoveAll(s.blobDir(d, qi.Blob.ID)); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string][]byte{}
	for _, p := range parts {
		want[p.Identifier] = p.Data
	}
	for _, p := range qi.Patches {
		rc, err := s.ReadPatch(ctx, p.PatchID)
		if err != nil {
			t.Fatalf("ReadPatch %q: %v", p.Identifier, err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		checkBytes(t, "patch "+p.Identifier, got, want[p.Identifier])
	}
	list, err := s.ListPatches(ctx, qi.Blob.ID)
	if err != nil || len(list) != 3 || list[0].Identifier != "a.txt" || list[0].Tags["k"] != "v" {
		t.Fatalf("ListPatches = %+v, %v", list, err)
	}
	plain := put(t, s, lcg(3, 1000))
	if _, err := s.ListPatches(ctx, plain.ID); !errors.Is(err, blobstore.ErrInvalidArgument) {
		t.Errorf("ListPatches of a plain blob: %v, want ErrInvalidArgument", err)
	}
	if _, err := s.PutQuilt(ctx, make([]blobstore.QuiltPart, 7), blobstore.PutOptions{}); err == nil {
		t.Error("PutQuilt of more parts than columns succeeded")
	}
}
