package quilt

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

// TestPlannerMatchesBuild adds random patches to a Planner under a random
// limit and checks, after every patch it takes, that Build makes a blob of
// exactly the length the plan reports, and for every patch it refuses that
// Build would indeed make a blob over the limit (or could not take it).
func TestPlannerMatchesBuild(t *testing.T) {
	for _, n := range []int{4, 10, 40, 100, 1000} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			p, err := rs2.NewParams(n)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(uint64(n), 7))
			for round := range 6 {
				cells := int64(p.Kp) * int64(p.Ks)
				limit := cells * int64(2+2*rng.IntN(40))
				if round == 0 {
					limit = 0 // only the encoding's own limit
				}
				checkPlan(t, p, rng, limit)
			}
		})
	}
}

func checkPlan(t *testing.T, p rs2.Params, rng *rand.Rand, limit int64) {
	t.Helper()
	pl := NewPlanner(p)
	var parts []blobstore.QuiltPart
	refused := 0
	for i := 0; i < p.Ks+5 && refused < 8; i++ {
		part := randomPart(rng, i, p)
		if !pl.Add(len(part.Identifier), part.Tags, len(part.Data), limit) {
			refused++
			q, err := Build(p, append(parts, part))
			if err == nil && (limit <= 0 || int64(len(q.Bytes())) <= limit) {
				t.Fatalf("limit %d: the plan refused patch %d (%d bytes), but Build makes %d bytes of the %d patches",
					limit, i, len(part.Data), len(q.Bytes()), len(parts)+1)
			}
			if err != nil && !errors.Is(err, blobstore.ErrTooLarge) {
				t.Fatalf("Build: %v", err)
			}
			if pl.Len() != len(parts) {
				t.Fatalf("a refused patch changed the plan: %d patches, want %d", pl.Len(), len(parts))
			}
			continue
		}
		parts = append(parts, part)
		if p.N > 100 && i%23 != 0 {
			continue // Build at 1000 shards is slow: check every 23rd
		}
		q, err := Build(p, parts)
		if err != nil {
			t.Fatalf("limit %d: the plan took patch %d, but Build fails: %v", limit, i, err)
		}
		if got, want := pl.BlobLen(), int64(len(q.Bytes())); got != want {
			t.Fatalf("limit %d, %d patches: plan says %d bytes, Build makes %d", limit, len(parts), got, want)
		}
		if limit > 0 && pl.BlobLen() > limit {
			t.Fatalf("the plan took a quilt of %d bytes over the limit of %d", pl.BlobLen(), limit)
		}
	}
	pl.Reset()
	if pl.Len() != 0 || pl.BlobLen() != int64(p.Kp)*int64(p.Ks)*2 {
		t.Fatalf("after Reset: %d patches, %d bytes", pl.Len(), pl.BlobLen())
	}
}

// randomPart returns a patch of mostly small data with now and then a
// large one, an identifier of 1 to 300 bytes, and tags on some.
func randomPart(rng *rand.Rand, i int, p rs2.Params) blobstore.QuiltPart {
	size := rng.IntN(4096)
	switch rng.IntN(10) {
	case 0:
		size = rng.IntN(p.Kp * 400)
	case 1:
		size = 0
	}
	id := fmt.Sprintf("p%05d-%s", i, strings.Repeat("x", rng.IntN(300)))
	part := blobstore.QuiltPart{Identifier: id, Data: make([]byte, size)}
	if rng.IntN(4) == 0 {
		part.Tags = map[string]string{"content-type": "application/octet-stream", "n": fmt.Sprint(rng.IntN(1000))}
	}
	return part
}

// TestPlannerMixedSizes is the case that makes planning necessary: one
// large patch among many small ones raises the symbol size of the whole
// quilt.
func TestPlannerMixedSizes(t *testing.T) {
	p, err := rs2.NewParams(1000)
	if err != nil {
		t.Fatal(err)
	}
	const limit = 16 << 20
	pl := NewPlanner(p)
	for i := range 664 {
		if !pl.Add(20, nil, 4096, limit) {
			t.Fatalf("small patch %d refused at %d bytes", i, pl.BlobLen())
		}
	}
	small := pl.BlobLen()
	if pl.Add(20, nil, 4<<20, limit) {
		t.Fatalf("a 4 MiB patch after 664 small ones was taken: the quilt is %d bytes, over the %d limit", pl.BlobLen(), limit)
	}
	if pl.BlobLen() != small || pl.Len() != 664 {
		t.Fatalf("the refusal changed the plan: %d patches, %d bytes", pl.Len(), pl.BlobLen())
	}
	// Unlimited, the same patch makes a quilt far larger than its data.
	if !pl.Add(20, nil, 4<<20, 0) {
		t.Fatal("unlimited plan refused a 4 MiB patch")
	}
	if pl.BlobLen() < 1<<30 {
		t.Fatalf("664 × 4 KiB + 4 MiB plans to %d bytes; want the > 1 GiB that Build makes", pl.BlobLen())
	}
}

// TestPlannerRefusesLimitBelowSmallestQuilt: a size limit smaller than the
// smallest quilt at the shard count (two-byte symbols) takes no patch, and
// does not crash trying.
func TestPlannerRefusesLimitBelowSmallestQuilt(t *testing.T) {
	p, err := rs2.NewParams(1000)
	if err != nil {
		t.Fatal(err)
	}
	smallest := int64(p.Kp) * int64(p.Ks) * 2
	for _, limit := range []int64{1, smallest / 2, smallest - 1} {
		pl := NewPlanner(p)
		for _, dataLen := range []int{1, 4096, 1 << 20} {
			if pl.Add(8, nil, dataLen, limit) {
				t.Errorf("limit %d (smallest quilt %d): took a patch of %d bytes", limit, smallest, dataLen)
			}
		}
	}
	if pl := NewPlanner(p); !pl.Add(8, nil, 4096, smallest) {
		t.Errorf("limit %d, the smallest quilt: refused a small patch", smallest)
	}
}
