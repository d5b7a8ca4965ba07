package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/fsck"
	"github.com/walrusfs/walrusfs/index"
)

// runFsckJSON runs `walrusfs fsck --json args...` and returns its report
// and exit status.
func runFsckJSON(t *testing.T, args ...string) (fsckReport, int) {
	t.Helper()
	cmd := walrusfsCmd(append([]string{"fsck", "--json"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	var r fsckReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("fsck %q: exit %d, output %q, stderr %q: %v", args, code, out, stderr.String(), err)
	}
	return r, code
}

func runGCJSON(t *testing.T, args ...string) gcReport {
	t.Helper()
	out, err := walrusfsCmd(append([]string{"gc", "--json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("gc %q: %v: %s", args, err, out)
	}
	var r gcReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("gc %q: %q: %v", args, out, err)
	}
	return r
}

// findingFor returns the first finding of kind about path.
func findingFor(r fsckReport, kind, path string) (fsck.Finding, bool) {
	for _, f := range r.Findings {
		if f.Kind == kind && f.Path == path {
			return f, true
		}
	}
	return fsck.Finding{}, false
}

// chunkBlob returns the blob ID of chunk n of the file at path (through
// walrusfs info).
func chunkBlob(t *testing.T, path string, n int) blobstore.ID {
	t.Helper()
	out, err := walrusfsCmd("info", "--json", path).Output()
	if err != nil {
		t.Fatalf("info %s: %v", path, err)
	}
	var fi []fileInfo
	if err := json.Unmarshal(out, &fi); err != nil || len(fi) != 1 || len(fi[0].Chunks) <= n {
		t.Fatalf("info %s: %s: %v", path, out, err)
	}
	id, err := blobstore.ParseID(fi[0].Chunks[n].ID)
	if err != nil {
		t.Fatalf("chunk %d of %s is not a standalone blob: %v", n, path, err)
	}
	return id
}

// blobDir is where the local store in storeDir keeps blob id.
func blobDir(storeDir string, id blobstore.ID) string {
	s := id.String()
	return filepath.Join(storeDir, "blobs", s[:2], s)
}

func writeRandom(t *testing.T, path string, size int, seed byte) [32]byte {
	t.Helper()
	b := make([]byte, size)
	x := uint32(seed) + 1
	for i := range b {
		x = x*1664525 + 1013904223
		b[i] = byte(x >> 24)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return sha256.Sum256(b)
}

func waitAllCertified(t *testing.T, mnt string) {
	t.Helper()
	if out, err := walrusfsCmd("status", "--wait", "--timeout", "2m", mnt).CombinedOutput(); err != nil {
		t.Fatalf("status --wait: %v: %s", err, out)
	}
}

func checkSum(t *testing.T, path string, want [32]byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if sha256.Sum256(b) != want {
		t.Fatalf("%s: content differs", path)
	}
}

// TestFsckFindsAndRepairsStoreDamage: on a running mount, fsck finds a
// blob deleted from the local store and a blob damaged beyond what the
// erasure code mends, by path; --repair uploads both again from their
// local copies, after which --verify-data is clean and the files read
// back whole. Damage the erasure code does mend is reported as nothing
// wrong: a reader gets the right bytes.
func TestFsckFindsAndRepairsStoreDamage(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	startDaemon(t, state, mnt, uploadTestFlags()...)
	a := writeRandom(t, filepath.Join(mnt, "dir", "a"), 2<<20+100, 1)
	b := writeRandom(t, filepath.Join(mnt, "dir", "sub", "b"), 2<<20+200, 2)
	small := writeRandom(t, filepath.Join(mnt, "small"), 3000, 3)
	waitAllCertified(t, mnt)
	store := filepath.Join(state, "store")

	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean || r.BlocksVerified == 0 {
		t.Fatalf("fsck of a healthy volume: exit %d, %+v", code, r)
	}

	// A flipped byte in one sliver: the store mends it on read.
	bBlob := chunkBlob(t, filepath.Join(mnt, "dir", "sub", "b"), 1)
	slivers := filepath.Join(blobDir(store, bBlob), "slivers")
	data, err := os.ReadFile(slivers)
	if err != nil {
		t.Fatal(err)
	}
	data[10] ^= 0xff
	if err := os.WriteFile(slivers, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck after damage the erasure code mends: exit %d, %+v", code, r.Findings)
	}

	// Now damage every sliver of that blob, and delete another blob.
	data, err = os.ReadFile(slivers)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 101 {
		data[i] ^= 0xff
	}
	if err := os.WriteFile(slivers, data, 0o644); err != nil {
		t.Fatal(err)
	}
	aBlob := chunkBlob(t, filepath.Join(mnt, "dir", "a"), 0)
	if err := os.RemoveAll(blobDir(store, aBlob)); err != nil {
		t.Fatal(err)
	}

	r, code := runFsckJSON(t, mnt)
	if code == 0 || r.Clean {
		t.Fatalf("fsck after a blob was deleted: exit %d, clean %v", code, r.Clean)
	}
	f, ok := findingFor(r, fsck.KindBlobMissing, "/dir/a")
	if !ok || f.Chunk == nil || *f.Chunk != 0 || f.Blob != aBlob.String() || f.Repaired {
		t.Fatalf("no unrepaired blob-missing finding for /dir/a chunk 0 (blob %s): %+v", aBlob, r.Findings)
	}
	if _, ok := findingFor(r, fsck.KindBlockHash, "/dir/sub/b"); ok {
		t.Fatal("fsck without --verify-data read blocks")
	}

	r, code = runFsckJSON(t, "--verify-data", mnt)
	if code == 0 {
		t.Fatal("fsck --verify-data of damaged data exited 0")
	}
	f, ok = findingFor(r, fsck.KindBlockHash, "/dir/sub/b")
	if !ok || *f.Chunk != 1 || !strings.Contains(f.Action, "--repair") {
		t.Fatalf("no block-damaged finding for /dir/sub/b chunk 1: %+v", r.Findings)
	}

	r, code = runFsckJSON(t, "--verify-data", "--repair", mnt)
	if code != 0 || !r.Clean || r.Repaired != 2 {
		t.Fatalf("fsck --repair: exit %d, %d of %d repaired: %+v", code, r.Repaired, r.Problems, r.Findings)
	}
	waitAllCertified(t, mnt)
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck after the repair: exit %d, %+v", code, r.Findings)
	}
	if _, err := os.Stat(blobDir(store, aBlob)); err != nil {
		t.Fatalf("the deleted blob was not stored again: %v", err)
	}
	checkSum(t, filepath.Join(mnt, "dir", "a"), a)
	checkSum(t, filepath.Join(mnt, "dir", "sub", "b"), b)
	checkSum(t, filepath.Join(mnt, "small"), small)
}

// TestFsckNamesWhatItCannotRepair: without local copies, a chunk whose
// blob is gone cannot be repaired; fsck --repair says so by path and
// exits non-zero, and changes nothing.
func TestFsckNamesWhatItCannotRepair(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	startDaemon(t, state, mnt, uploadTestFlags("--local-copies", "0")...)
	path := filepath.Join(mnt, "docs", "report.pdf")
	writeRandom(t, path, 1<<20+5, 4)
	waitAllCertified(t, mnt)
	waitNoLocalCopy(t, path)
	id := chunkBlob(t, path, 0)
	if err := os.RemoveAll(blobDir(filepath.Join(state, "store"), id)); err != nil {
		t.Fatal(err)
	}
	r, code := runFsckJSON(t, "--repair", mnt)
	f, ok := findingFor(r, fsck.KindBlobMissing, "/docs/report.pdf")
	if code != 1 || ok && f.Repaired || !ok || !strings.Contains(f.Action, "not repaired") || r.Unrepaired != 1 {
		t.Fatalf("fsck --repair with nothing to repair from: exit %d, %+v", code, r.Findings)
	}
	out, _ := walrusfsCmd("fsck", mnt).CombinedOutput()
	if !strings.Contains(string(out), "/docs/report.pdf: blob-missing") || !strings.Contains(string(out), "1 of 1 problems remain") {
		t.Fatalf("fsck's text report does not name the file: %s", out)
	}
}

// TestFsckOfflineIndexProblems: with the volume unmounted, fsck
// --state-dir finds a wrong blob reference count, an entry naming a
// missing inode and a chunk pointing into a blob the index has no record
// of, each by path; --repair fixes the count and names the others. It
// refuses to run offline on a mounted volume.
func TestFsckOfflineIndexProblems(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags()...)
	writeRandom(t, filepath.Join(mnt, "music", "one.flac"), 1<<20+10, 5)
	writeRandom(t, filepath.Join(mnt, "music", "two.flac"), 1<<20+20, 6)
	waitAllCertified(t, mnt)
	oneBlob := chunkBlob(t, filepath.Join(mnt, "music", "one.flac"), 0)
	twoBlob := chunkBlob(t, filepath.Join(mnt, "music", "two.flac"), 0)

	out, err := walrusfsCmd("fsck", "--state-dir", state).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "is mounted: run walrusfs fsck on its MOUNTPOINT") {
		t.Fatalf("offline fsck of a mounted volume: %v: %s", err, out)
	}
	d.stop(t)

	if r, code := runFsckJSON(t, "--verify-data", "--state-dir", state); code != 0 || !r.Clean || r.BlocksVerified == 0 {
		t.Fatalf("offline fsck of a healthy volume: exit %d, %+v", code, r)
	}

	db, err := bolt.Open(filepath.Join(state, index.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		blobs := tx.Bucket([]byte("blobs"))
		rec := slices.Clone(blobs.Get(oneBlob[:]))
		binary.BigEndian.PutUint64(rec[40:], binary.BigEndian.Uint64(rec[40:])+5) // Refs
		if err := blobs.Put(oneBlob[:], rec); err != nil {
			return err
		}
		if err := blobs.Delete(twoBlob[:]); err != nil {
			return err
		}
		v := binary.BigEndian.AppendUint64(nil, 987654)
		v = binary.BigEndian.AppendUint32(v, syscall.S_IFREG)
		if err := tx.Bucket([]byte("dirents")).Put(append(binary.BigEndian.AppendUint64(nil, uint64(index.RootIno)), "ghost"...), v); err != nil {
			return err
		}
		// Point the first packed chunk at a patch its quilt does not
		// have: record v1, kind, flags, staging ID, quilt ID, patch ID
		// length, then the patch ID, whose last two bytes end its
		// column range.
		c := tx.Bucket([]byte("chunks")).Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			if len(v) > 44+blobstore.PatchIDSize && v[43] == blobstore.PatchIDSize {
				rec := slices.Clone(v)
				rec[44+blobstore.PatchIDSize-2] += 7
				return tx.Bucket([]byte("chunks")).Put(k, rec)
			}
		}
		return errors.New("no packed chunk")
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}

	r, code := runFsckJSON(t, "--state-dir", state)
	if code != 1 {
		t.Fatalf("offline fsck of a damaged index: exit %d", code)
	}
	if f, ok := findingFor(r, string(index.ProblemEntryTarget), "/"); !ok || !strings.Contains(f.Detail, `"ghost"`) {
		t.Errorf("no finding for the entry naming a missing inode: %+v", r.Findings)
	}
	if _, ok := findingFor(r, fsck.KindBlobRecord, "/music/two.flac"); !ok {
		t.Errorf("no finding for the chunk without a blob record: %+v", r.Findings)
	}
	patched := 0
	for _, f := range r.Findings {
		if f.Kind == fsck.KindBlobMissing && strings.Contains(f.Detail, "does not list patch") && strings.HasPrefix(f.Path, "/music/") {
			patched++
		}
	}
	if patched != 1 {
		t.Errorf("no finding for the chunk whose patch its quilt does not list: %+v", r.Findings)
	}
	var count *fsck.Finding
	for _, f := range r.Findings {
		if f.Kind == string(index.ProblemBlobCount) && f.Blob == oneBlob.String() {
			count = &f
		}
	}
	if count == nil || count.Repaired {
		t.Fatalf("no finding for the wrong reference count of %s: %+v", oneBlob, r.Findings)
	}

	r, code = runFsckJSON(t, "--repair", "--state-dir", state)
	// Repaired: the count, and the packed chunk, queued again from its
	// local copy.
	if code != 1 || r.Repaired != 2 || r.Unrepaired != 2 {
		t.Fatalf("offline fsck --repair: exit %d, %d repaired, %d remain: %+v", code, r.Repaired, r.Unrepaired, r.Findings)
	}
	r, _ = runFsckJSON(t, "--state-dir", state)
	for _, f := range r.Findings {
		if f.Kind == string(index.ProblemBlobCount) {
			t.Errorf("the count is still wrong after --repair: %+v", f)
		}
	}
	if r.Problems != 2 {
		t.Errorf("after --repair: %d problems, want the 2 fsck cannot repair: %+v", r.Problems, r.Findings)
	}

	// Leave the index as the test's cleanup check expects it: without
	// the entry fsck cannot repair.
	db, err = bolt.Open(filepath.Join(state, index.FileName), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("dirents")).Delete(append(binary.BigEndian.AppendUint64(nil, uint64(index.RootIno)), "ghost"...))
	})
	_ = db.Close()
}

// storeBlobs lists the blob directories of a local store.
func storeBlobs(t *testing.T, storeDir string) []string {
	t.Helper()
	dirs, err := filepath.Glob(filepath.Join(storeDir, "blobs", "*", "*"))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(dirs)
	return dirs
}

// TestGC: gc --dry-run shows the blobs of a deleted file and changes
// nothing; gc collects them from the local store and the index, keeps
// every blob a file uses, and a later fsck is clean. Offline, gc works on
// the state directory and refuses a mounted one.
func TestGC(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags()...)
	keep := writeRandom(t, filepath.Join(mnt, "keep"), 2<<20+1, 7)
	writeRandom(t, filepath.Join(mnt, "gone"), 3<<20, 8)
	waitAllCertified(t, mnt)
	gone := []blobstore.ID{chunkBlob(t, filepath.Join(mnt, "gone"), 0), chunkBlob(t, filepath.Join(mnt, "gone"), 2)}
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(state, "store")
	before := storeBlobs(t, store)

	dry := runGCJSON(t, "--dry-run", mnt)
	if !dry.DryRun || dry.Count != 3 || dry.Bytes != 3<<20 || len(dry.Unreferenced) != 3 || dry.Collected != nil {
		t.Fatalf("gc --dry-run: %+v", dry)
	}
	for _, id := range gone {
		if !slices.ContainsFunc(dry.Unreferenced, func(b gcBlob) bool { return b.ID == id.String() && b.EndEpoch > 0 && b.Keep == "" }) {
			t.Errorf("gc --dry-run does not list %s with its lease end: %+v", id, dry.Unreferenced)
		}
	}
	if after := storeBlobs(t, store); !slices.Equal(after, before) {
		t.Fatalf("gc --dry-run changed the store: %d blobs before, %d after", len(before), len(after))
	}
	if again := runGCJSON(t, "--dry-run", mnt); again.Count != dry.Count {
		t.Fatalf("gc --dry-run changed the index: %d collectable, then %d", dry.Count, again.Count)
	}

	done := runGCJSON(t, mnt)
	if done.Collected == nil || done.Collected.Blobs != 3 || done.Collected.Bytes != 3<<20 || len(done.Collected.Failed) != 0 {
		t.Fatalf("gc: %+v", done)
	}
	for _, id := range gone {
		if _, err := os.Stat(blobDir(store, id)); !os.IsNotExist(err) {
			t.Errorf("blob %s of the deleted file is still in the store: %v", id, err)
		}
	}
	if got := storeBlobs(t, store); len(got) != len(before)-3 {
		t.Errorf("gc left %d blobs of %d, want %d", len(got), len(before), len(before)-3)
	}
	if again := runGCJSON(t, mnt); again.Count != 0 || len(again.Unreferenced) != 0 {
		t.Errorf("a second gc finds more: %+v", again)
	}
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck after gc: exit %d, %+v", code, r.Findings)
	}
	checkSum(t, filepath.Join(mnt, "keep"), keep)

	// Offline: the same, on the state directory.
	writeRandom(t, filepath.Join(mnt, "later"), 1<<20, 9)
	waitAllCertified(t, mnt)
	if err := os.Remove(filepath.Join(mnt, "later")); err != nil {
		t.Fatal(err)
	}
	if out, err := walrusfsCmd("gc", "--state-dir", state).CombinedOutput(); err == nil || !strings.Contains(string(out), "is mounted") {
		t.Fatalf("offline gc of a mounted volume: %v: %s", err, out)
	}
	d.stop(t)
	if off := runGCJSON(t, "--state-dir", state); off.Collected == nil || off.Collected.Blobs != 1 {
		t.Fatalf("offline gc: %+v", off)
	}
	if r, code := runFsckJSON(t, "--verify-data", "--state-dir", state); code != 0 || !r.Clean {
		t.Fatalf("offline fsck after offline gc: exit %d, %+v", code, r.Findings)
	}
}

// TestFsckAndGCThroughServe: against the Walrus HTTP API (walrusfs serve
// on loopback), fsck --verify-data reads every block through the client
// and finds a blob deleted from the server's store; gc without chain
// sync shows what is unreferenced and says it cannot collect it.
func TestFsckAndGCThroughServe(t *testing.T) {
	requireFuse(t)
	serveStore := t.TempDir()
	addr, _ := startServeProcess(t, "serve", "--listen", "127.0.0.1:0", "--store", serveStore, "--shards", "20", "--quilt-shards", "20")
	url := "http://" + addr
	state, mnt := t.TempDir(), t.TempDir()
	startDaemon(t, state, mnt, uploadTestFlags("--publisher", url, "--aggregator", url, "--upload-delay", "200ms", "--seal-delay", "200ms")...)
	writeRandom(t, filepath.Join(mnt, "x"), 2<<20+3, 10)
	writeRandom(t, filepath.Join(mnt, "y"), 1<<20+3, 11)
	waitAllCertified(t, mnt)
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean || r.BlocksVerified == 0 {
		t.Fatalf("fsck through serve: exit %d, %+v", code, r)
	}
	id := chunkBlob(t, filepath.Join(mnt, "x"), 1)
	if err := os.RemoveAll(blobDir(serveStore, id)); err != nil {
		t.Fatal(err)
	}
	r, code := runFsckJSON(t, "--verify-data", mnt)
	if _, ok := findingFor(r, fsck.KindBlobMissing, "/x"); code != 1 || !ok {
		t.Fatalf("fsck through serve after a blob was deleted: exit %d, %+v", code, r.Findings)
	}
	if err := os.Remove(filepath.Join(mnt, "y")); err != nil {
		t.Fatal(err)
	}
	out, err := walrusfsCmd("gc", mnt).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "none can be collected") {
		t.Fatalf("gc without chain sync: %v: %s", err, out)
	}
}

// waitNoLocalCopy waits until path keeps no local copy (--local-copies 0
// drops them once certified).
func waitNoLocalCopy(t *testing.T, path string) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := walrusfsCmd("info", path).Output()
		if err == nil && !strings.Contains(string(out), "local copy") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("local copies kept with --local-copies 0: %s", out)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestFsckRestoresFromTheBlockCache: a file whose local copies are gone
// but which was read (so the block cache holds its blocks) is rebuilt
// from the cache when its blob is lost: on a running mount (memory and
// disk cache) and offline (the disk cache). Files read back whole.
func TestFsckRestoresFromTheBlockCache(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	flags := uploadTestFlags("--local-copies", "0")
	d := startDaemon(t, state, mnt, flags...)
	online := writeRandom(t, filepath.Join(mnt, "online"), 1<<20, 12)
	offline := writeRandom(t, filepath.Join(mnt, "offline"), 1<<20, 13)
	waitAllCertified(t, mnt)
	waitNoLocalCopy(t, filepath.Join(mnt, "online"))
	waitNoLocalCopy(t, filepath.Join(mnt, "offline"))
	// Reading through the mount fills the block cache.
	checkSum(t, filepath.Join(mnt, "online"), online)
	checkSum(t, filepath.Join(mnt, "offline"), offline)
	store := filepath.Join(state, "store")
	onID, offID := chunkBlob(t, filepath.Join(mnt, "online"), 0), chunkBlob(t, filepath.Join(mnt, "offline"), 0)

	if err := os.RemoveAll(blobDir(store, onID)); err != nil {
		t.Fatal(err)
	}
	r, code := runFsckJSON(t, "--repair", mnt)
	f, ok := findingFor(r, fsck.KindBlobMissing, "/online")
	if code != 0 || !ok || !f.Repaired || !strings.Contains(f.Action, "block cache") {
		t.Fatalf("fsck --repair on the mount: exit %d, %+v", code, r.Findings)
	}
	waitAllCertified(t, mnt)
	if _, err := os.Stat(blobDir(store, onID)); err != nil {
		t.Fatalf("the restored chunk was not stored again: %v", err)
	}
	d.stop(t)

	if err := os.RemoveAll(blobDir(store, offID)); err != nil {
		t.Fatal(err)
	}
	r, code = runFsckJSON(t, "--repair", "--state-dir", state)
	f, ok = findingFor(r, fsck.KindBlobMissing, "/offline")
	if code != 0 || !ok || !f.Repaired {
		t.Fatalf("offline fsck --repair: exit %d, %+v", code, r.Findings)
	}
	startDaemon(t, state, mnt, flags...)
	waitAllCertified(t, mnt)
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck after restoring from the cache: exit %d, %+v", code, r.Findings)
	}
	checkSum(t, filepath.Join(mnt, "online"), online)
	checkSum(t, filepath.Join(mnt, "offline"), offline)
}

// TestFsckRepairsAnEncryptedVolume: encrypted chunks' local copies cannot
// be compared with the stored blocks' hashes (random nonces), so a whole
// copy of the recorded length is uploaded again, into a new blob; the old
// blob's record, unreferenced and gone from the store, is then reported
// and dropped by the next --repair, after which fsck is clean.
func TestFsckRepairsAnEncryptedVolume(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	startDaemon(t, state, mnt, uploadTestFlags("--encrypt", "on")...)
	path := filepath.Join(mnt, "secret")
	sum := writeRandom(t, path, 1<<20, 30)
	waitAllCertified(t, mnt)
	old := chunkBlob(t, path, 0)
	if err := os.RemoveAll(blobDir(filepath.Join(state, "store"), old)); err != nil {
		t.Fatal(err)
	}
	if r, code := runFsckJSON(t, "--repair", mnt); code != 0 || r.Repaired != 1 {
		t.Fatalf("fsck --repair: exit %d, %+v", code, r.Findings)
	}
	waitAllCertified(t, mnt)
	if now := chunkBlob(t, path, 0); now == old {
		t.Fatal("an encrypted chunk uploaded again kept its blob ID")
	}
	r, code := runFsckJSON(t, "--verify-data", mnt)
	if code != 1 || len(r.Findings) != 1 || r.Findings[0].Kind != fsck.KindOrphanBlob || r.Findings[0].Blob != old.String() {
		t.Fatalf("fsck after the upload: exit %d, %+v", code, r.Findings)
	}
	if r, code := runFsckJSON(t, "--repair", mnt); code != 0 || r.Repaired != 1 {
		t.Fatalf("fsck --repair of the old record: exit %d, %+v", code, r.Findings)
	}
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck at the end: exit %d, %+v", code, r.Findings)
	}
	checkSum(t, path, sum)
}

// TestOfflineCommandsNeverMakeAKey: fsck and gc open a volume the way a
// mount does, but where a mount of a new encrypted volume would make its
// key file, they only say there is none.
func TestOfflineCommandsNeverMakeAKey(t *testing.T) {
	dir := t.TempDir()
	idx, err := index.Open(t.Context(), dir, index.DefaultConfig(), slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = idx.Close() }()
	if _, err := openKey(dir, idx, true, false, false, slog.New(slog.DiscardHandler)); err == nil || !strings.Contains(err.Error(), "no key file") {
		t.Fatalf("opening without making a key: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, keyFileName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a key file appeared: %v", err)
	}
	fl := pflag.NewFlagSet("fsck", pflag.ContinueOnError)
	if !registerVolumeFlags(fl).data.keepKeyFile {
		t.Fatal("fsck and gc would make a key file")
	}
}
