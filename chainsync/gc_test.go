package chainsync

import (
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/index"
)

func TestPlanGarbage(t *testing.T) {
	const now, grace = 20, 2
	id := func(b byte) blobstore.ID { return blobstore.ID{b} }
	obj := func(b byte, objID string, registered uint32) blobstore.Info {
		return blobstore.Info{ID: id(b), ObjectID: objID, RegisteredEpoch: registered}
	}
	rec := func(b byte, objID string, refs uint64, since uint32) index.Blob {
		return index.Blob{ID: id(b), ObjectID: objID, Refs: refs, LiveBytes: refs * 10, UnreferencedSince: since}
	}
	for _, tc := range []struct {
		name    string
		records []index.Blob
		owned   blobstore.Info
		garbage bool
	}{
		{"referenced", []index.Blob{rec(1, "0xa", 1, 0)}, obj(1, "0xa", 1), false},
		{"unreferenced within the grace", []index.Blob{rec(1, "0xa", 0, 19)}, obj(1, "0xa", 1), false},
		{"unreferenced for the grace", []index.Blob{rec(1, "0xa", 0, 18)}, obj(1, "0xa", 1), true},
		{"unreferenced and not marked yet", []index.Blob{rec(1, "0xa", 0, 0)}, obj(1, "0xa", 1), false},
		{"another object of a referenced blob", []index.Blob{rec(1, "0xa", 1, 0)}, obj(1, "0xb", 5), true},
		{"a young other object (an upload in flight)", []index.Blob{rec(1, "0xa", 1, 0)}, obj(1, "0xb", 19), false},
		{"an old orphan", nil, obj(2, "0xc", 10), true},
		{"a young orphan (an upload in flight)", nil, obj(2, "0xc", 19), false},
		{"an orphan at exactly the grace", nil, obj(2, "0xc", 18), true},
		{"unreferenced, young object", []index.Blob{rec(1, "0xa", 0, 10)}, obj(1, "0xa", 19), false},
		{"pinned by a kept snapshot only", []index.Blob{{ID: id(1), ObjectID: "0xa", Pins: 1}}, obj(1, "0xa", 1), false},
	} {
		got := planGarbage(now, grace, tc.records, []blobstore.Info{tc.owned})
		if (len(got) == 1) != tc.garbage {
			t.Errorf("%s: garbage %v, want %v", tc.name, got, tc.garbage)
		}
	}
}
