package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	"golang.org/x/sys/unix"
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
		{3 << 40, "3TiB"},
		{3<<40 + 1<<39, "3.5TiB"},
	} {
		if got := humanSize(tc.v); got != tc.want {
			t.Errorf("humanSize(%d) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestParseSize(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"4096", 4096, true},
		{"64KiB", 64 << 10, true},
		{"8MiB", 8 << 20, true},
		{"8 mb", 8 << 20, true},
		{"10GiB", 10 << 30, true},
		{"2TiB", 2 << 40, true},
		{"1t", 1 << 40, true},
		{"", 0, false},
		{"MiB", 0, false},
		{"8PiB", 0, false},
		{"-1", 0, false},
		{"1.5GiB", 0, false},
		{"99999999TiB", 0, false}, // overflows 64 bits
	} {
		got, err := parseSize(tc.in)
		if tc.ok && (err != nil || got != tc.want) {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
		}
		if !tc.ok && err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", tc.in, got)
		}
	}
}

// TestCheckRefusesImpossibleSettings: settings that cannot work together
// are refused before anything opens, naming the flag the user gave.
func TestCheckRefusesImpossibleSettings(t *testing.T) {
	fl := pflag.NewFlagSet("mount", pflag.ContinueOnError)
	var defaults dataFlags
	defaults.register(fl)
	const chunk = 8 << 20
	for _, tc := range []struct {
		name  string
		tune  func(*dataFlags)
		chunk uint64
		given []string
		want  string // "" for no error
	}{
		{"defaults", nil, chunk, nil, ""},
		{"network defaults", func(d *dataFlags) { d.publisher = "http://127.0.0.1:1" }, chunk, nil, ""},
		{"epochs", func(d *dataFlags) { d.epochs = 54 }, chunk, []string{"epochs"}, "--epochs 54"},
		{"tiny block", func(d *dataFlags) { d.blockSize.v = 1024 }, chunk, []string{"block-size"}, "--block-size 1KiB: must be at least 4KiB"},
		{"block over chunk, block given", func(d *dataFlags) { d.blockSize.v = 16 << 20 }, chunk, []string{"block-size"}, "--block-size 16MiB is larger than the chunk size (8MiB)"},
		{"block over chunk, chunk given", nil, 512 << 10, []string{"chunk-size"}, "--chunk-size 512KiB is smaller than the block size (1MiB, the default --block-size)"},
		{"bad chunk size", nil, 1000, []string{"chunk-size"}, "--chunk-size 1000: the chunk size must be"},
		{"shards given", func(d *dataFlags) { d.shards = 7 }, chunk, []string{"shards"}, "--shards 7: the local store's blobs would hold at most"},
		{"chunk given", nil, 64 << 20, []string{"chunk-size"}, "--chunk-size 64MiB: a chunk is stored as one blob"},
		{"shards ignored on the network", func(d *dataFlags) { d.shards = 7; d.publisher = "http://127.0.0.1:1" }, chunk, []string{"shards"}, ""},
		{"quilt too small", func(d *dataFlags) { d.quiltSize.v = 256 << 10; d.quiltMin.v = 64 << 10 }, chunk, []string{"quilt-size"}, "--quilt-size 256KiB: a quilt at 1000 shards takes at least"},
		{"quilt threshold over size", func(d *dataFlags) { d.quiltMin.v = 32 << 20 }, chunk, []string{"quilt-threshold"}, "--quilt-threshold 32MiB is larger than --quilt-size 16MiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := defaults
			if tc.tune != nil {
				tc.tune(&d)
			}
			given := map[string]bool{}
			for _, g := range tc.given {
				given[g] = true
			}
			err := d.check(tc.chunk, given)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want an error containing %q", err, tc.want)
			case err != nil && !errors.Is(err, errUsage):
				t.Fatalf("%v: not a usage error", err)
			}
		})
	}
}

// TestDefaultStagingBudget: half of the free space plus what staging holds
// (by apparent size, as the staging budget counts it).
func TestDefaultStagingBudget(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "staging", "0"), 0o700); err != nil {
		t.Fatal(err)
	}
	const staged = 4 << 30 // sparse: it takes no space
	f, err := os.Create(filepath.Join(dir, "staging", "0", "1"))
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(staged); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	free := int64(st.Bavail) * st.Bsize
	got := defaultStagingBudget(dir)
	if diff := got - (free+staged)/2; diff < -64<<20 || diff > 64<<20 {
		t.Fatalf("budget %s, want about (free %s + staged %s) / 2", humanSize(uint64(got)), humanSize(uint64(free)), humanSize(staged))
	}
}
