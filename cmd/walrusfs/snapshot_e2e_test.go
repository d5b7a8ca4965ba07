package main

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/walrusfs/walrusfs/blobstore/faultproxy"
	"github.com/walrusfs/walrusfs/index"
)

// runCLI runs a walrusfs command to its end and returns its standard
// output and error.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	cmd := walrusfsCmd(args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-time.After(5 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("walrusfs %s did not finish\n%s", strings.Join(args, " "), e.String())
	}
	return o.String(), e.String(), err
}

// mustCLI runs a walrusfs command that must succeed.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, err := runCLI(t, args...)
	if err != nil {
		t.Fatalf("walrusfs %s: %v\n%s", strings.Join(args, " "), err, errOut)
	}
	return out
}

// buildMixedTree adds to buildTree's tree a source tree (this package's
// Go files), files of awkward sizes around the block and chunk sizes, and
// odd modes.
func buildMixedTree(t *testing.T, root string) {
	t.Helper()
	buildTree(t, root)
	src := filepath.Join(root, "src", "cmd")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("*.go")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(src, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []int{0, 1, 4095, 4096, 4097, 256<<10 - 1, 256<<10 + 1, 1<<20 - 1, 1 << 20, 1<<20 + 1, 3<<20 + 5} {
		b := bytes.Repeat([]byte{byte(n), byte(n >> 8), 0x5a}, n/3+1)[:n]
		if err := os.WriteFile(filepath.Join(root, fmt.Sprintf("size-%d", n)), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, mode := range map[string]uint32{"size-1": 0o4755, "size-4095": 0o000, "size-4096": 0o2711} {
		if err := unix.Chmod(filepath.Join(root, name), mode); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Chmod(filepath.Join(root, "src"), 0o1777); err != nil {
		t.Fatal(err)
	}
	if err := os.Lchown(filepath.Join(root, "dir", "symlink"), 77, 88); err != nil {
		t.Fatal(err)
	}
	// POSIX ACLs, an access ACL on a file and a default ACL on a
	// directory (stored as system.posix_acl_* xattrs).
	for _, args := range [][]string{
		{"-m", "u:1234:rw-,g:100:r--", filepath.Join(root, "size-4097")},
		{"-d", "-m", "g:100:r-x", filepath.Join(root, "src", "cmd")},
	} {
		if out, err := exec.Command("setfacl", args...).CombinedOutput(); err != nil {
			t.Fatalf("setfacl %q: %v: %s", args, err, out)
		}
	}
	ts := []unix.Timespec{{Sec: 100, Nsec: 5}, {Sec: 2000000000, Nsec: 999999999}}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, filepath.Join(root, "size-0"), ts, 0); err != nil {
		t.Fatal(err)
	}
}

// snapshotBackend is a store the snapshot tests run against: its mount
// flags and the flags that name it to restore.
type snapshotBackend struct {
	mount, store []string
}

func newSnapshotBackend(t *testing.T, name string) snapshotBackend {
	t.Helper()
	if name == "serve" {
		url := startServe(t)
		net := []string{"--publisher", url, "--aggregator", url}
		return snapshotBackend{mount: uploadTestFlags(append([]string{"--encrypt", "on"}, net...)...), store: net}
	}
	local := []string{"--store", t.TempDir(), "--shards", "20"}
	return snapshotBackend{mount: uploadTestFlags(append([]string{"--encrypt", "on"}, local...)...), store: local}
}

// TestSnapshotDisasterRecovery writes a mixed tree, takes a snapshot,
// changes the tree after it, waits until everything is certified, deletes
// the whole state directory but the key, restores into a new one and
// mounts it: the tree is the one of the snapshot, byte for byte, with
// modes, owners, times, xattrs, links and symlinks. The same through
// mount --snapshot. On the local store and through walrusfs serve.
func TestSnapshotDisasterRecovery(t *testing.T) {
	requireFuse(t)
	for _, name := range []string{"local", "serve"} {
		t.Run(name, func(t *testing.T) {
			b := newSnapshotBackend(t, name)
			state, mnt := t.TempDir(), t.TempDir()
			d := startDaemon(t, state, mnt, b.mount...)
			buildMixedTree(t, mnt)
			want := snapshot(t, mnt)
			if !strings.Contains(want, "system.posix_acl_access") || !strings.Contains(want, "system.posix_acl_default") {
				t.Fatalf("the manifest does not show the ACLs:\n%s", want)
			}
			id := strings.TrimSpace(mustCLI(t, "snapshot", mnt))
			if len(id) != 43 {
				t.Fatalf("snapshot printed %q, want a blob ID", id)
			}
			// Changes after the snapshot are not in it, and the data the
			// snapshot needs outlives the files.
			if err := os.WriteFile(filepath.Join(mnt, "small"), []byte("changed after the snapshot"), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(mnt, "dir")); err != nil {
				t.Fatal(err)
			}
			if list := mustCLI(t, "snapshot", "--list", mnt); !strings.HasPrefix(list, id+" ") {
				t.Fatalf("snapshot --list: %q, want the snapshot", list)
			}
			mustCLI(t, "status", "--wait", "--timeout", "3m", mnt)
			// Garbage collection takes no blob a kept snapshot needs, and
			// fsck finds the volume with its snapshot clean.
			mustCLI(t, "gc", mnt)
			mustCLI(t, "fsck", "--verify-data", mnt)
			d.stop(t)

			keyFile := filepath.Join(t.TempDir(), "volume.key")
			if err := os.Rename(filepath.Join(state, keyFileName), keyFile); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(state); err != nil {
				t.Fatal(err)
			}

			restored := filepath.Join(t.TempDir(), "restored")
			out := mustCLI(t, append([]string{"restore", "--snapshot", id, "--key", keyFile, "--state-dir", restored}, b.store...)...)
			if !strings.Contains(out, "restored snapshot "+id) {
				t.Fatalf("restore said %q", out)
			}
			if err := index.CheckFile(filepath.Join(restored, index.FileName)); err != nil {
				t.Fatal(err)
			}
			d = startDaemon(t, restored, mnt, b.mount...)
			if got := snapshot(t, mnt); got != want {
				t.Fatalf("restored tree differs:\nwant:\n%s\ngot:\n%s", want, got)
			}
			// The restored volume is a volume: it takes writes.
			if err := os.WriteFile(filepath.Join(mnt, "new"), []byte("after the restore"), 0o644); err != nil {
				t.Fatal(err)
			}
			d.stop(t)

			// mount --snapshot, straight from the store, read-only.
			other := t.TempDir()
			d = startDaemon(t, other, mnt, append([]string{"--snapshot", id, "--key", keyFile, "--read-only"}, b.mount...)...)
			if got := snapshot(t, mnt); got != want {
				t.Fatalf("tree of mount --snapshot differs:\nwant:\n%s\ngot:\n%s", want, got)
			}
			if err := os.WriteFile(filepath.Join(mnt, "x"), nil, 0o644); !errors.Is(err, syscall.EROFS) {
				t.Fatalf("write to a snapshot mount: %v, want EROFS", err)
			}
			d.stop(t)
			if entries, _ := os.ReadDir(other); len(entries) != 0 {
				t.Fatalf("mount --snapshot left %d entries in --state-dir", len(entries))
			}
			// The old state directory, holding only its key again, takes
			// the restored index too (its cleanup checks an index there).
			if err := os.MkdirAll(state, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Link(keyFile, filepath.Join(state, keyFileName)); err != nil {
				t.Fatal(err)
			}
			mustCLI(t, append([]string{"restore", "--snapshot", id, "--key", keyFile, "--state-dir", state}, b.store...)...)
			mustCLI(t, append([]string{"restore", "--snapshot", id, "--key", keyFile, "--state-dir", other}, b.store...)...)
		})
	}
}

// TestSnapshotBadInput: unknown IDs, blobs that are not snapshots,
// another volume's key, a damaged root and a state directory that holds
// an index are each refused in one line, and a failed restore leaves
// nothing on disk.
func TestSnapshotBadInput(t *testing.T) {
	requireFuse(t)
	url := startServe(t)
	net := []string{"--publisher", url, "--aggregator", url}
	flags := uploadTestFlags(append([]string{"--encrypt", "on"}, net...)...)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, flags...)
	if err := os.WriteFile(filepath.Join(mnt, "big"), bytes.Repeat([]byte("walrus"), 400_000), 0o644); err != nil {
		t.Fatal(err)
	}
	id := strings.TrimSpace(mustCLI(t, "snapshot", mnt))
	mustCLI(t, "status", "--wait", "--timeout", "3m", mnt)
	buf := make([]byte, 512)
	n, err := unix.Getxattr(filepath.Join(mnt, "big"), "user.walrus.blob_id", buf)
	if err != nil {
		t.Fatal(err)
	}
	dataBlob := strings.Fields(string(buf[:n]))[0]
	d.stop(t)
	key := filepath.Join(state, keyFileName)

	otherState, otherMnt := t.TempDir(), t.TempDir()
	startDaemon(t, otherState, otherMnt, flags...).stop(t)
	otherKey := filepath.Join(otherState, keyFileName)

	_, corruptURL := frontProxy(t, url, 1, faultproxy.Rule{PathPrefix: "/v1/blobs/" + id, Method: http.MethodGet, Fault: faultproxy.Corrupt, Flips: 8})
	unknown := "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for _, tc := range []struct {
		name, id, key string
		store         []string
		want          string
	}{
		{"unknown ID", unknown, key, net, "the store has no such blob"},
		{"not an ID", "snap-1", key, net, "is not a snapshot ID"},
		{"a data blob", dataBlob, key, net, "not a walrusfs snapshot"},
		{"another volume's key", id, otherKey, net, "give that volume's key file"},
		{"no key", id, "", net, "give its key file with --key"},
		{"damaged root", id, key, []string{"--publisher", url, "--aggregator", corruptURL}, "damaged"},
		{"no store named", id, key, nil, "name the store that holds the snapshot"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			args := []string{"restore", "--snapshot", tc.id, "--state-dir", filepath.Join(parent, "state")}
			if tc.key != "" {
				args = append(args, "--key", tc.key)
			}
			_, errOut, err := runCLI(t, append(args, tc.store...)...)
			var exit *exec.ExitError
			if !errors.As(err, &exit) {
				t.Fatalf("restore: %v, want a failure\n%s", err, errOut)
			}
			t.Logf("restore: %s", errOut)
			if !strings.Contains(errOut, tc.want) {
				t.Fatalf("restore said %q, want it to say %q", errOut, tc.want)
			}
			if lines := strings.Count(strings.TrimSpace(errOut), "\n") + 1; lines != 1 && !strings.Contains(errOut, "Usage") {
				t.Fatalf("restore's error is %d lines:\n%s", lines, errOut)
			}
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("a failed restore left %v", entries)
			}
		})
	}
	// A state directory that holds an index is refused, untouched.
	before, err := os.ReadFile(filepath.Join(state, index.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, errOut, err := runCLI(t, append([]string{"restore", "--snapshot", id, "--key", key, "--state-dir", state}, net...)...)
	if err == nil || !strings.Contains(errOut, "already holds an index") {
		t.Fatalf("restore over an index: %v\n%s", err, errOut)
	}
	if after, _ := os.ReadFile(filepath.Join(state, index.FileName)); !bytes.Equal(before, after) {
		t.Fatal("a refused restore changed the index")
	}
}

// TestSnapshotSchedule: --snapshot-every takes snapshots and
// --snapshot-keep retires all but the newest; --retire retires one by
// hand. The index's check at cleanup holds the pins to account.
func TestSnapshotSchedule(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags("--snapshot-every", "1s", "--snapshot-keep", "2")...)
	if err := os.WriteFile(filepath.Join(mnt, "f"), bytes.Repeat([]byte("x"), 100_000), 0o644); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for strings.Count(d.stderr.String(), "snapshot retired") < 2 {
		if time.Now().After(deadline) {
			t.Fatalf("no two snapshots retired\n%s", d.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	d.stop(t)
	// Without the schedule, the kept snapshots can be listed and retired.
	d = startDaemon(t, state, mnt, uploadTestFlags()...)
	list := strings.Fields(mustCLI(t, "snapshot", "--list", mnt))
	if got := strings.Count(mustCLI(t, "snapshot", "--list", mnt), "\n"); got != 2 {
		t.Fatalf("%d snapshots kept, want 2: %q", got, list)
	}
	mustCLI(t, "snapshot", "--retire", list[0], mnt)
	if got := strings.Count(mustCLI(t, "snapshot", "--list", mnt), "\n"); got != 1 {
		t.Fatalf("%d snapshots kept after retiring one, want 1", got)
	}
	if _, errOut, err := runCLI(t, "snapshot", "--retire", list[0], mnt); err == nil || !strings.Contains(errOut, "keeps no snapshot") {
		t.Fatalf("retiring again: %v %s", err, errOut)
	}
	d.stop(t)
}
