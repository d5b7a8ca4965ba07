package main

import (
	"strings"
	"testing"
)

// TestSumReads: only the reads of the named file count, and failed or
// empty reads add nothing.
func TestSumReads(t *testing.T) {
	log := `1234  read(3</usr/lib/x86_64-linux-gnu/libc.so.6>, "\177ELF"..., 832) = 832
1234  read(5</tmp/run/video.mp4>, "\0\0\0 ftypisom"..., 32768) = 32768
1234  pread64(5</tmp/run/video.mp4>, "..."..., 65536, 1048576) = 65536
1235  read(5</tmp/run/video.mp4>, "", 32768) = 0
1235  read(5</tmp/run/video.mp4>, 0x7f, 32768) = -1 EINTR (Interrupted system call)
1234  read(6</tmp/run/video.mp4.bak>, "..."..., 100) = 100
`
	got, err := sumReads(strings.NewReader(log), "video.mp4")
	if err != nil {
		t.Fatal(err)
	}
	if want := int64(32768 + 65536); got != want {
		t.Errorf("sumReads = %d, want %d", got, want)
	}
}

// TestVideoSeekTimes: the seeks cover the video, each position once, and
// no seek lands just after the one before it.
func TestVideoSeekTimes(t *testing.T) {
	ts := videoSeekTimes()
	seen := map[float64]bool{}
	for i, s := range ts {
		if s <= 0 || s >= videoSeconds || seen[s] {
			t.Fatalf("seek %d at %.1f s: outside the video or repeated (%v)", i, s, ts)
		}
		seen[s] = true
		if i > 0 && s > ts[i-1] && s-ts[i-1] <= float64(videoSeconds)/videoSeeks {
			t.Errorf("seek %d at %.1f s reads on from the one before (%.1f s)", i, s, ts[i-1])
		}
	}
}
