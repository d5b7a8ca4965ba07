package localstore

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/walrusfs/walrusfs/blobstore/rs2"
)

func sampleRecord(n int) *record {
	r := &record{
		Shards:     n,
		Size:       123456,
		Gen:        3,
		Registered: 7,
		Certified:  8,
		End:        60,
		Deletable:  true,
		Created:    time.Unix(1700000000, 42).UTC(),
		Hashes:     make([]rs2.PairHash, n),
	}
	for i := range r.Hashes {
		r.Hashes[i].Primary[0] = byte(i)
		r.Hashes[i].Secondary[31] = byte(i + 1)
	}
	r.ID = r.metadata().BlobID()
	return r
}

func TestRecordRoundTrip(t *testing.T) {
	for _, n := range []int{4, 10, 1000} {
		r := sampleRecord(n)
		b := r.marshal()
		if len(b) != recordSize(n) {
			t.Fatalf("n=%d: %d bytes, want %d", n, len(b), recordSize(n))
		}
		got, err := unmarshalRecord(b)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if !reflect.DeepEqual(got, r) {
			t.Fatalf("n=%d: round trip\n got %+v\nwant %+v", n, got, r)
		}
		if err := verifyRecord(got); err != nil {
			t.Fatal(err)
		}
	}
}

func TestRecordRejectsDamage(t *testing.T) {
	good := sampleRecord(10).marshal()
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0x10
		if _, err := unmarshalRecord(b); err == nil {
			t.Errorf("flipping a bit of byte %d went unnoticed", i)
		}
	}
	for _, n := range []int{0, 3, len(good) - 1} {
		if _, err := unmarshalRecord(good[:n]); err == nil {
			t.Errorf("record truncated to %d bytes accepted", n)
		}
	}
	if _, err := unmarshalRecord(append(bytes.Clone(good), 0)); err == nil {
		t.Error("record with a trailing byte accepted")
	}
}

func FuzzUnmarshalRecord(f *testing.F) {
	f.Add(sampleRecord(4).marshal())
	f.Add(sampleRecord(10).marshal())
	f.Add([]byte("WLSM"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := unmarshalRecord(b)
		if err != nil {
			return
		}
		if again := r.marshal(); !bytes.Equal(again, b) {
			t.Fatalf("decoded record re-encodes differently")
		}
		_ = verifyRecord(r)
	})
}
