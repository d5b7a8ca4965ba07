package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"
)

func TestRatio(t *testing.T) {
	tests := []struct {
		name              string
		loopback, subject float64
		higher            bool
		want              float64
		ok                bool
	}{
		{"throughput, subject faster", 100, 150, true, 1.5, true},
		{"throughput, subject slower", 100, 80, true, 0.8, true},
		{"time, subject faster", 2, 1, false, 2, true},
		{"time, subject slower", 1, 4, false, 0.25, true},
		{"throughput, loopback zero", 0, 10, true, 0, false},
		{"time, subject zero", 1, 0, false, 0, false},
		{"NaN", math.NaN(), 1, true, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := ratio(tt.loopback, tt.subject, tt.higher)
			if ok != tt.ok || (ok && math.Abs(got-tt.want) > 1e-9) {
				t.Errorf("ratio(%v, %v, %v) = %v, %v; want %v, %v", tt.loopback, tt.subject, tt.higher, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestRowFinish(t *testing.T) {
	m := func(v float64) *measurement { return &measurement{Value: v} }
	ratioPtr := func(v float64) *float64 { return &v }
	rt, below, most, least := ratioTarget(0.8), belowTarget(200), maxTarget(16), minTarget(100)
	tests := []struct {
		name        string
		row         row
		wantVerdict string
		wantRatio   *float64
	}{
		{"at most: at the limit passes", row{Target: &most, Subject: m(16)}, pass, nil},
		{"at most: over the limit fails", row{Target: &most, Subject: m(17)}, fail, nil},
		{"at least: at the limit passes", row{Higher: true, Target: &least, Subject: m(100)}, pass, nil},
		{"at least: under the limit fails", row{Higher: true, Target: &least, Subject: m(99.9)}, fail, nil},
		{"a missed requirement fails within the limit", row{Target: &most, Subject: &measurement{Value: 3, Missed: "2 standalone blobs"}}, fail, nil},
		{"a missed requirement fails without a target", row{Subject: &measurement{Value: 3, Missed: "x"}}, fail, nil},
		{"throughput at the mark passes", row{Higher: true, Target: &rt, Loopback: m(100), Subject: m(80)}, pass, ratioPtr(0.8)},
		{"throughput under the mark fails", row{Higher: true, Target: &rt, Loopback: m(100), Subject: m(79)}, fail, ratioPtr(0.79)},
		{"time: slower by 1/0.8 passes", row{Target: &rt, Loopback: m(1), Subject: m(1.25)}, pass, ratioPtr(0.8)},
		{"time: twice as slow fails", row{Target: &rt, Loopback: m(1), Subject: m(2)}, fail, ratioPtr(0.5)},
		{"absolute limit met, ratio still shown", row{Target: &below, Loopback: m(30), Subject: m(150)}, pass, ratioPtr(0.2)},
		{"absolute limit missed", row{Target: &below, Loopback: m(30), Subject: m(200)}, fail, ratioPtr(0.15)},
		{"informational row has no verdict", row{Loopback: m(3), Subject: m(6)}, noMarks, ratioPtr(0.5)},
		{"subject-only row with a limit", row{Target: &below, Subject: m(10)}, pass, nil},
		{"subject-only row with a ratio target", row{Higher: true, Target: &rt, Subject: m(10)}, noMarks, nil},
		{"error on one side", row{Higher: true, Target: &rt, Loopback: m(100), Subject: &measurement{Err: "EIO"}}, failed, nil},
		{"error on the loopback", row{Higher: true, Target: &rt, Loopback: &measurement{Err: "EIO"}, Subject: m(100)}, failed, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.row
			r.finish()
			if r.Verdict != tt.wantVerdict {
				t.Errorf("verdict %q, want %q", r.Verdict, tt.wantVerdict)
			}
			switch {
			case (r.Ratio == nil) != (tt.wantRatio == nil):
				t.Errorf("ratio %v, want %v", r.Ratio, tt.wantRatio)
			case r.Ratio != nil && math.Abs(*r.Ratio-*tt.wantRatio) > 1e-9:
				t.Errorf("ratio %v, want %v", *r.Ratio, *tt.wantRatio)
			}
		})
	}
}

func sampleReport() *report {
	rt, below, most := ratioTarget(0.8), belowTarget(200), maxTarget(16)
	rows := []*row{
		{Key: "seq-write", Name: "sequential write 1 GiB", Unit: "MB/s", Higher: true, Target: &rt,
			Loopback: &measurement{Value: 1000}, Subject: &measurement{Value: 900, Values: []float64{950, 880, 900}}},
		{Key: "ls-l", Name: "`ls -l` of 10000 entries", Unit: "s", Target: &rt,
			Loopback: &measurement{Value: 0.05, Note: "drop_caches not writable"}, Subject: &measurement{Value: 0.1}},
		{Key: "create", Name: "create 10000 files", Unit: "ops/s", Higher: true, Target: &rt,
			Loopback: &measurement{Value: 5000}, Subject: &measurement{Err: "create f0000001: input/output error\nmore"}},
		{Key: "rss", Name: "daemon peak RSS", Unit: "MiB", Target: &below,
			Loopback: &measurement{Value: 30}, Subject: &measurement{Value: 120}},
		{Key: "cpu", Name: "daemon CPU time", Unit: "s", Loopback: &measurement{Value: 10}, Subject: &measurement{Value: 12}},
		{Key: "small-files-blobs", Name: "blobs", Unit: "blobs", Target: &most,
			Subject: &measurement{Value: 12, Note: "9 quilts", Missed: "3 standalone blobs, want none"}},
	}
	for _, r := range rows {
		r.finish()
	}
	return &report{
		Started: time.Date(2026, 1, 2, 3, 4, 0, 0, time.UTC), Subject: "walrusfs",
		Size: 1 << 30, Files: 10000, RandReads: 20000, Seed: 1, Host: "Linux test", Rows: rows,
	}
}

func TestWriteMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().writeMarkdown(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"| workload | unit | loopback | walrusfs | ratio | target | result |\n",
		"|---|---|--:|--:|--:|---|---|\n",
		"| sequential write 1 GiB | MB/s | 1000 | 900 | 0.90× | ≥ 0.80× | pass |\n",
		"| `ls -l` of 10000 entries | s | 0.05 | 0.1 | 0.50× | ≥ 0.80× | FAIL |\n",
		"| create 10000 files | ops/s | 5000 | error | — | ≥ 0.80× | error |\n",
		"| daemon peak RSS | MiB | 30.0 | 120 | 0.25× | < 200 MiB | pass |\n",
		"| daemon CPU time | s | 10.0 | 12.0 | 0.83× |  |  |\n",
		"- ls-l, loopback: drop_caches not writable\n",
		"- create, walrusfs: error: create f0000001: input/output error\n",
		"| blobs | blobs | — | 12 | — | ≤ 16 blobs | FAIL |\n",
		"- small-files-blobs, walrusfs: 9 quilts\n",
		"- small-files-blobs, walrusfs: missed: 3 standalone blobs, want none\n",
		"- seq-write, walrusfs: median of 950, 880, 900 MB/s\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("markdown lacks %q; got:\n%s", want, out)
		}
	}
	if strings.Contains(out, "more") {
		t.Errorf("markdown shows more than the first line of an error:\n%s", out)
	}
	// Every table line has the same number of cells.
	var cells []int
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "|") {
			cells = append(cells, strings.Count(l, "|"))
		}
	}
	for i, n := range cells {
		if n != cells[0] {
			t.Errorf("table line %d has %d separators, the header %d", i, n, cells[0])
		}
	}
}

func TestWriteJSON(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().writeJSON(&b); err != nil {
		t.Fatal(err)
	}
	var got report
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, b.String())
	}
	if len(got.Rows) != 6 || got.Rows[0].Verdict != pass || *got.Rows[0].Ratio != 0.9 || got.Rows[2].Subject.Err == "" ||
		got.Rows[5].Subject.Missed == "" || got.Rows[5].Target.Kind != "max" {
		t.Errorf("round trip lost data: %+v", got.Rows)
	}
}

func TestFormatValue(t *testing.T) {
	tests := []struct {
		v    float64
		want string
	}{
		{0, "0"}, {0.01234, "0.0123"}, {1.234, "1.23"}, {12.34, "12.3"}, {1234.5, "1234"}, {20000, "20000"},
	}
	for _, tt := range tests {
		if got := formatValue(tt.v); got != tt.want {
			t.Errorf("formatValue(%v) = %q, want %q", tt.v, got, tt.want)
		}
	}
}

func TestSizes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
	}{
		{"1GiB", 1 << 30}, {"256MiB", 256 << 20}, {"256M", 256 << 20}, {"64k", 64 << 10}, {"4096", 4096}, {"2 GiB", 2 << 30},
	} {
		got, err := parseSize(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"", "GiB", "1.5GiB", "-1GiB", "0", "1PiB", "99999999999GiB"} {
		if got, err := parseSize(bad); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", bad, got)
		}
	}
	for _, tt := range []struct {
		n    int64
		want string
	}{
		{1 << 30, "1 GiB"}, {256 << 20, "256 MiB"}, {3 << 29, "1.5 GiB"}, {100, "100 B"},
	} {
		if got := sizeString(tt.n); got != tt.want {
			t.Errorf("sizeString(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

// A /proc/PID/status of a running daemon, trimmed.
const statusSample = `Name:	walrusfs
Umask:	0022
State:	S (sleeping)
Tgid:	4242
Pid:	4242
VmPeak:	 1287460 kB
VmSize:	 1287460 kB
VmLck:	       0 kB
VmPin:	       0 kB
VmHWM:	  154312 kB
VmRSS:	   98760 kB
RssAnon:	   80000 kB
RssFile:	   18760 kB
RssShmem:	       0 kB
Threads:	12
`

func TestParseStatus(t *testing.T) {
	got, err := parseStatus(strings.NewReader(statusSample))
	if err != nil {
		t.Fatal(err)
	}
	want := procMem{RSS: 98760 << 10, Peak: 154312 << 10}
	if got != want {
		t.Errorf("parseStatus = %+v, want %+v", got, want)
	}

	// A zombie has no memory lines: that must not read as zero bytes.
	zombie := "Name:\twalrusfs\nState:\tZ (zombie)\nThreads:\t1\n"
	if m, err := parseStatus(strings.NewReader(zombie)); err == nil {
		t.Errorf("parseStatus(zombie) = %+v, want an error", m)
	}
	bad := strings.Replace(statusSample, "98760 kB", "98760 pages", 1)
	if m, err := parseStatus(strings.NewReader(bad)); err == nil {
		t.Errorf("parseStatus(bad unit) = %+v, want an error", m)
	}
}

func TestParseStatCPU(t *testing.T) {
	// comm with a space and a parenthesis; utime 250, stime 50 ticks.
	stat := "4242 (wal rus) fs) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 50 0 0 20 0 12 0 100 1287460 24690 18446744073709551615"
	got, err := parseStatCPU([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if want := 3 * time.Second; got != want {
		t.Errorf("parseStatCPU = %v, want %v", got, want)
	}
	if _, err := parseStatCPU([]byte("4242 (x) S 1")); err == nil {
		t.Error("parseStatCPU(short line): want an error")
	}
}

func TestParseMountinfo(t *testing.T) {
	const sample = `22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
99 22 0:52 / /tmp/walrusfs-bench/run-1/walrus\040mnt rw,nosuid,nodev,relatime shared:50 - fuse.walrusfs walrusfs rw,user_id=0,group_id=0,default_permissions,max_read=1048576
`
	ms, err := parseMountinfo(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 2 {
		t.Fatalf("got %d entries, want 2", len(ms))
	}
	want := mountEntry{
		Dev:     "0:52",
		Point:   "/tmp/walrusfs-bench/run-1/walrus mnt",
		FSType:  "fuse.walrusfs",
		Source:  "walrusfs",
		Options: "rw,nosuid,nodev,relatime,rw,user_id=0,group_id=0,default_permissions,max_read=1048576",
	}
	if ms[1] != want {
		t.Errorf("entry = %+v, want %+v", ms[1], want)
	}
}

func TestHasCommand(t *testing.T) {
	help := "walrusfs: Walrus as a POSIX filesystem\n\nUsage: walrusfs COMMAND [flags] [args]\n\nCommands:\n  mount      mount Walrus\n  version    print the version\n"
	if !hasCommand(help, "mount") {
		t.Error("mount not found")
	}
	if hasCommand(strings.Replace(help, "  mount      mount Walrus\n", "", 1), "mount") {
		t.Error("mount found in help without it")
	}
}

func TestPattern(t *testing.T) {
	p := newPattern(1)
	const size = 3<<20 + 123
	whole := make([]byte, size)
	p.fill(whole, 0)

	// Any range regenerates the same bytes as the whole.
	for _, r := range [][2]int64{{0, 4096}, {4090, 20}, {1<<20 - 3, 9000}, {size - 100, 100}, {8191, 2}} {
		got := make([]byte, r[1])
		p.fill(got, r[0])
		if !bytes.Equal(got, whole[r[0]:r[0]+r[1]]) {
			t.Errorf("fill at %d, %d bytes differs from the whole", r[0], r[1])
		}
	}
	// No two pages are equal, not even a page and its copy 1 MiB later.
	seen := map[string]int{}
	for i := 0; i+pageSize <= size; i += pageSize {
		k := string(whole[i : i+pageSize])
		if j, dup := seen[k]; dup {
			t.Fatalf("page at %d repeats the page at %d", i, j)
		}
		seen[k] = i
	}
	if other := newPattern(2); bytes.Equal(other.block[:64], p.block[:64]) {
		t.Error("different seeds give the same content")
	}
}

func TestCombine(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	ms := []*measurement{
		{Value: 30, DaemonCPU: f(1), DaemonPeakMiB: 10},
		{Value: 10, DaemonCPU: f(2), DaemonPeakMiB: 30, Note: "fadvise"},
		{Value: 20, DaemonCPU: f(3), DaemonPeakMiB: 20},
	}
	got := combine(ms)
	if got.Value != 20 || *got.DaemonCPU != 2 || got.DaemonPeakMiB != 30 || got.Note != "fadvise" || len(got.Values) != 3 {
		t.Errorf("combine = %+v", got)
	}
	if got := combine(ms[:2]); got.Value != 20 {
		t.Errorf("median of two = %v, want 20", got.Value)
	}
	if got := combine(ms[:1]); got != ms[0] {
		t.Errorf("combine of one = %+v, want it unchanged", got)
	}
	bad := &measurement{Err: "EIO"}
	if got := combine(append(ms[:1:1], bad, ms[2])); got != bad {
		t.Errorf("combine with an error = %+v, want the error", got)
	}
}

// A row with passes is measured that many times even without --repeat,
// sides alternating, and reports the medians; --repeat above it wins.
func TestRunWorkloadPasses(t *testing.T) {
	for _, tc := range []struct{ repeat, passes, want int }{{1, 0, 1}, {1, 5, 5}, {7, 5, 7}} {
		loop, subj := &side{name: "loopback"}, &side{name: "walrusfs"}
		var order []string
		figures := map[*side][]float64{loop: {3, 1, 2, 9, 8, 7, 6}, subj: {10, 30, 20, 90, 80, 70, 60}}
		w := workload{key: "w", label: func(*config) string { return "w" }, unit: "s", passes: tc.passes,
			run: func(_ context.Context, s *side) (float64, string, error) {
				order = append(order, s.name)
				v := figures[s][0]
				figures[s] = figures[s][1:]
				return v, "", nil
			}}
		r, err := runWorkload(t.Context(), &config{repeat: tc.repeat}, w, loop, subj, func(string, ...any) {})
		if err != nil {
			t.Fatal(err)
		}
		if len(order) != 2*tc.want {
			t.Fatalf("repeat %d, passes %d: %d measurements, want %d", tc.repeat, tc.passes, len(order), 2*tc.want)
		}
		for i := 0; i+1 < len(order); i += 2 {
			first := "loopback"
			if i/2%2 == 1 {
				first = "walrusfs"
			}
			if order[i] != first {
				t.Errorf("pass %d starts with %s, want %s (sides alternate)", i/2, order[i], first)
			}
		}
		if tc.want == 5 && (r.Loopback.Value != 3 || r.Subject.Value != 30 || len(r.Subject.Values) != 5) {
			t.Errorf("passes 5: medians %v and %v of %v, want 3 and 30 of five", r.Loopback.Value, r.Subject.Value, r.Subject.Values)
		}
	}
}
