package main

import (
	"testing"
	"time"
)

// TestQuiltAgeDefaults: a partly filled quilt waits 10 s on the local store
// and 5 min on the network (every Walrus quilt pays ~64 MB of metadata),
// and --quilt-age wins over both.
func TestQuiltAgeDefaults(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    dataFlags
		want time.Duration
	}{
		{"local", dataFlags{}, 10 * time.Second},
		{"network", dataFlags{publisher: "http://127.0.0.1:1"}, 5 * time.Minute},
		{"local, set", dataFlags{quiltAge: time.Second}, time.Second},
		{"network, set", dataFlags{publisher: "http://127.0.0.1:1", quiltAge: 30 * time.Second}, 30 * time.Second},
	} {
		if got := tc.d.quiltMaxAge(); got != tc.want {
			t.Errorf("%s: quilt age %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestHumanSize(t *testing.T) {
	for _, tc := range []struct {
		v    uint64
		want string
	}{
		{0, "0"},
		{1000, "1000"},
		{4096, "4KiB"},
		{64 << 20, "64MiB"},
		{10 << 30, "10GiB"},
		{132106042 << 10, "126.0GiB"},
		{3<<20 + 512<<10, "3.5MiB"},
		{1536 << 10, "1.5MiB"},
		{100 << 10, "100KiB"},
		{1<<20 + 1, "1.0MiB"},
	} {
		if got := humanSize(tc.v); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}
