package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRunBlobID(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hello := write("hello.txt", "hello walrus")
	empty := write("empty", "")
	tests := []struct {
		name      string
		args      []string
		want      string // exact stdout
		wantErr   string // substring of the error
		wantUsage bool
	}{
		{
			name: "default shards",
			args: []string{hello},
			want: "kIrHJ_1VfYJD-OV0O1JicM2lB5swr83ZkfvTD7BWV0I  " + hello + "\n",
		},
		{
			name: "two files",
			args: []string{"--shards=10", hello, empty},
			want: "5g7EUy58ReQir0t11jz709ae5cdZT24btlovkXo28U8  " + hello + "\n" +
				"gLzpD29smKZiYJIWwKatudKr76kEprQeMPyAhuMbWd4  " + empty + "\n",
		},
		{
			name: "ten shards",
			args: []string{"--shards", "10", hello},
			want: "5g7EUy58ReQir0t11jz709ae5cdZT24btlovkXo28U8  " + hello + "\n",
		},
		{name: "zero memory budget", args: []string{"--memory", "0", hello}, wantUsage: true},
		{name: "missing file", args: []string{filepath.Join(dir, "nope")}, wantErr: "no such file"},
		{name: "directory", args: []string{dir}, wantErr: "not a regular file"},
		{name: "no files", args: nil, wantUsage: true},
		{name: "bad flag", args: []string{"--bogus", hello}, wantUsage: true},
		{name: "too few shards", args: []string{"--shards", "3", hello}, wantUsage: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := runForTest(t.Context(), append([]string{"blob-id"}, tc.args...), &stdout, &stderr)
			switch {
			case tc.wantUsage:
				if !errors.Is(err, errUsage) {
					t.Fatalf("err = %v, want a usage error", err)
				}
			case tc.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Errorf("error spans several lines: %q", err)
				}
			default:
				if err != nil {
					t.Fatal(err)
				}
				if stdout.String() != tc.want {
					t.Errorf("stdout = %q, want %q", stdout.String(), tc.want)
				}
			}
		})
	}
}

func TestRunBlobIDTooLarge(t *testing.T) {
	// 393 205 bytes is one over the n=4 limit (2·3·65534); a sparse file
	// keeps the test cheap.
	p := filepath.Join(t.TempDir(), "big")
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(393_205); err != nil {
		t.Fatal(err)
	}
	f.Close()
	var stdout, stderr bytes.Buffer
	err = runForTest(t.Context(), append([]string{"blob-id"}, []string{"--shards", "4", p}...), &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "393205") || !strings.Contains(err.Error(), "393204") {
		t.Fatalf("err = %v, want a too-large error naming size and limit", err)
	}
}

// TestRunBlobIDMemoryBudget checks that a file too large for --memory (so
// encoded strip-wise, with a spill file) gets the same ID.
func TestRunBlobIDMemoryBudget(t *testing.T) {
	name := filepath.Join(t.TempDir(), "blob")
	data := make([]byte, 300_000)
	x := uint32(1)
	for i := range data {
		x = 1664525*x + 1013904223
		data[i] = byte(x >> 24)
	}
	if err := os.WriteFile(name, data, 0o644); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var stdout, stderr bytes.Buffer
		if err := runForTest(t.Context(), append([]string{"blob-id"}, append(args, name)...), &stdout, &stderr); err != nil {
			t.Fatal(err)
		}
		return stdout.String()
	}
	want := run("--shards", "100")
	if got := run("--shards", "100", "--memory", "1"); got != want {
		t.Errorf("with --memory 1: %q, with the default budget %q", got, want)
	}
}
