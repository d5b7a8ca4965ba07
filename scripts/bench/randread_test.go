package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// pausingSides returns two sides over plain directories, each holding the
// large file, and the pause calls interleaveReads makes, as a string of
// 's' (stop) and 'c' (continue). Dropping caches writes to a plain file,
// unless dropFails.
func pausingSides(t *testing.T, dropFails bool) (loop, subj *side, calls *strings.Builder, pause func(bool) error) {
	t.Helper()
	dir := t.TempDir()
	cfg := &config{size: 1 << 20, randReads: 1000, seed: 3, dropCachesFile: filepath.Join(dir, "drop_caches")}
	if dropFails {
		cfg.dropCachesFile = filepath.Join(dir, "no", "drop_caches")
	}
	cfg.pattern = newPattern(cfg.seed)
	var sides [2]*side
	for i, name := range []string{"loopback", "subject"} {
		d := filepath.Join(dir, name)
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
		sides[i] = &side{name: name, mnt: d, backing: d, cfg: cfg}
		if err := writePatterned(t.Context(), sides[i].path(bigName), cfg.size, cfg.pattern, 0); err != nil {
			t.Fatal(err)
		}
	}
	calls = &strings.Builder{}
	pause = func(stop bool) error {
		if stop {
			calls.WriteByte('s')
		} else {
			calls.WriteByte('c')
		}
		return nil
	}
	return sides[0], sides[1], calls, pause
}

// The sides take turns slice by slice, and the subject is stopped through
// every one of the loopback's slices and continued after it.
func TestInterleaveReads(t *testing.T) {
	loop, subj, calls, pause := pausingSides(t, true)
	lv, sv, note, err := interleaveReads(t.Context(), loop, subj, pause)
	if err != nil {
		t.Fatal(err)
	}
	if lv <= 0 || sv <= 0 {
		t.Errorf("IOPS %v and %v", lv, sv)
	}
	if want := strings.Repeat("sc", readSlices); calls.String() != want {
		t.Errorf("pause calls %q, want %q", calls, want)
	}
	if !strings.Contains(note, "drop_caches not writable") {
		t.Errorf("note %q does not say how caches were dropped", note)
	}
}

// A wrong byte on the subject stops the row with an error naming the
// side; a wrong byte on the loopback leaves the subject continued.
func TestInterleaveReadsBadContent(t *testing.T) {
	for _, bad := range []string{"loopback", "subject"} {
		t.Run(bad, func(t *testing.T) {
			loop, subj, calls, pause := pausingSides(t, false)
			s := map[string]*side{"loopback": loop, "subject": subj}[bad]
			if err := os.WriteFile(s.path(bigName), make([]byte, s.cfg.size), 0o644); err != nil {
				t.Fatal(err)
			}
			_, _, _, err := interleaveReads(t.Context(), loop, subj, pause)
			if err == nil || !strings.Contains(err.Error(), bad+": 4 KiB read") {
				t.Fatalf("error %v, want one about the %s's content", err, bad)
			}
			if c := calls.String(); c == "" || c[len(c)-1] != 'c' {
				t.Errorf("pause calls %q: the subject was left stopped", c)
			}
		})
	}
}

// A pause that fails ends the row with the reason.
func TestInterleaveReadsPauseFails(t *testing.T) {
	loop, subj, _, _ := pausingSides(t, false)
	_, _, _, err := interleaveReads(t.Context(), loop, subj, func(bool) error { return errors.New("no such process") })
	if err == nil || !strings.Contains(err.Error(), "pausing the subject: no such process") {
		t.Fatalf("error %v", err)
	}
}

// Every load the reads-during-upload row writes has content of its own,
// in every chunk: the unencrypted local store would take a repeated
// chunk at once, leaving the next repetition no upload to read beside.
func TestUploadLoadsDiffer(t *testing.T) {
	_, subj, _, _ := pausingSides(t, false)
	const chunk = 256 << 10 // smaller than --size, as chunks are
	chunks := map[string]string{}
	note := func(what, p string) {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := 0; off < len(b); off += chunk {
			k := string(b[off:min(off+chunk, len(b))])
			if prev, dup := chunks[k]; dup {
				t.Fatalf("%s at %d repeats %s", what, off, prev)
			}
			chunks[k] = fmt.Sprintf("%s at %d", what, off)
		}
	}
	note("the large file", subj.path(bigName))
	for i := range 3 {
		p, err := writeUploadLoad(t.Context(), subj)
		if err != nil {
			t.Fatal(err)
		}
		note(fmt.Sprintf("load %d", i), p)
	}
}
