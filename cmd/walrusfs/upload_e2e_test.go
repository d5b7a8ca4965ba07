package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
)

// uploadTestFlags keep the daemon's uploads quick to observe: small
// chunks, short delays, a small shard count.
func uploadTestFlags(extra ...string) []string {
	return append([]string{
		"--chunk-size", "1MiB", "--block-size", "256KiB", "--shards", "20",
		"--quilt-threshold", "256KiB", "--quilt-size", "4MiB", "--quilt-age", "200ms", "--seal-delay", "200ms",
		"--drain-timeout", "10s",
	}, extra...)
}

// writeTestFiles writes small and large files with random content and
// returns their SHA-256 by name.
func writeTestFiles(t *testing.T, root string, seed uint64) map[string][32]byte {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, seed))
	sums := map[string][32]byte{}
	write := func(name string, size int) {
		b := make([]byte, size)
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(root, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		sums[name] = sha256.Sum256(b)
	}
	for i := range 300 {
		write(fmt.Sprintf("small%03d", i), 1+rng.IntN(8000))
	}
	for i := range 3 {
		write(fmt.Sprintf("large%d", i), 5<<20+rng.IntN(1<<20))
	}
	return sums
}

func checkFiles(t *testing.T, root string, sums map[string][32]byte) {
	t.Helper()
	for name, want := range sums {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if sha256.Sum256(b) != want {
			t.Fatalf("%s: content differs", name)
		}
	}
}

// waitCertified polls user.walrus.state until every file is certified.
func waitCertified(t *testing.T, root string, sums map[string][32]byte, d *daemon) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Minute)
	buf := make([]byte, 64)
	for name := range sums {
		for {
			n, err := unix.Getxattr(filepath.Join(root, name), "user.walrus.state", buf)
			if err == nil && string(buf[:n]) == "certified" {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not certified (state %q, %v)\n%s", name, buf[:max(n, 0)], err, d.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// TestUploadsSurviveKill9 kills the daemon while it uploads, restarts it,
// and checks that every file is uploaded, then readable from the store
// alone (staging deleted), on the local store and through walrusfs serve.
func TestUploadsSurviveKill9(t *testing.T) {
	requireFuse(t)
	for _, backend := range []string{"local", "serve"} {
		t.Run(backend, func(t *testing.T) {
			var flags []string
			if backend == "serve" {
				url := startServe(t)
				flags = uploadTestFlags("--publisher", url, "--aggregator", url)
			} else {
				flags = uploadTestFlags()
			}
			state, mnt := t.TempDir(), t.TempDir()
			d := startDaemon(t, state, mnt, flags...)
			sums := writeTestFiles(t, mnt, 7)
			time.Sleep(300 * time.Millisecond) // uploads are under way
			d.kill9(t)

			d = startDaemon(t, state, mnt, flags...)
			waitCertified(t, mnt, sums, d)
			checkFiles(t, mnt, sums)
			d.stop(t)
			if out := d.stderr.String(); !strings.Contains(out, "all uploads done") {
				t.Errorf("unmount did not report a drained queue:\n%s", out)
			}

			// The store alone now holds the data.
			if err := os.RemoveAll(filepath.Join(state, "staging")); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(state, "cache")); err != nil {
				t.Fatal(err)
			}
			d = startDaemon(t, state, mnt, flags...)
			checkFiles(t, mnt, sums)
			d.stop(t)
		})
	}
}

// TestEncryptionKeyFile: the network backend encrypts by default with a
// key generated in the state dir, mode 0600; the local store does not
// unless asked.
func TestEncryptionKeyFile(t *testing.T) {
	requireFuse(t)
	url := startServe(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags("--publisher", url, "--aggregator", url)...)
	plain := bytes.Repeat([]byte("secret walrus data "), 20000)
	if err := os.WriteFile(filepath.Join(mnt, "f"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	waitCertified(t, mnt, map[string][32]byte{"f": sha256.Sum256(plain)}, d)
	d.stop(t)
	st, err := os.Stat(filepath.Join(state, keyFileName))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", st.Mode().Perm())
	}
	if !strings.Contains(d.stderr.String(), "back it up") {
		t.Errorf("no warning to back up the new key:\n%s", d.stderr.String())
	}

	local := t.TempDir()
	d = startDaemon(t, local, mnt, uploadTestFlags()...)
	d.stop(t)
	if _, err := os.Stat(filepath.Join(local, keyFileName)); !os.IsNotExist(err) {
		t.Fatalf("local store without --encrypt made a key: %v", err)
	}
}

func TestConfigFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "walrusfs.toml")
	text := `# walrusfs settings
[mount]
publisher = "http://127.0.0.1:1"   # trailing comment
aggregator = ["http://127.0.0.1:2", 'http://127.0.0.1:3']
upload_concurrency = 3
fsync = "certified"
cache-disk = "1GiB"
`
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, data := newMountFlagsForTest()
	if err := fl.Parse([]string{"--fsync", "local"}); err != nil {
		t.Fatal(err)
	}
	if err := applyConfigFile(fl, path); err != nil {
		t.Fatal(err)
	}
	if data.publisher != "http://127.0.0.1:1" || data.aggregators != "http://127.0.0.1:2,http://127.0.0.1:3" ||
		data.concurrency != 3 || data.cacheDisk.v != 1<<30 {
		t.Fatalf("settings not applied: %+v", data)
	}
	if data.fsync != "local" {
		t.Fatalf("the command line must win over the file: fsync %q", data.fsync)
	}
	if data.localCopies.set {
		t.Fatal("--local-copies reported as given")
	}
	fl, data = newMountFlagsForTest()
	if err := fl.Parse([]string{"--local-copies", "0"}); err != nil || !data.localCopies.set || data.localCopies.v != 0 {
		t.Fatalf("--local-copies 0 must be kept as given: %+v, %v", data.localCopies, err)
	}
	for _, tc := range []struct{ text, want string }{
		{"nosuch = 1", `:1: unknown setting "nosuch"`},
		{"publisher = unquoted", ":1:"},
		{"[other]", ":1: table [other]"},
		{"[[mount]]", ":1: table [mount]"},
		{"fsync = \"x", ":1:"},
		{"publisher", ":1:"},
		{"mount.fsync = \"local\"", `:1: dotted key "mount.fsync"`},
		{"# comment\nupload_concurrency = \"3\"", ":2: upload_concurrency: want an integer, got a string"},
		{"fsync = 1", ":1: fsync: want a string, got an integer"},
		{"cache_disk = true", ":1: cache_disk: want a size"},
		{"cache_disk = -5", ":1: cache_disk: want a size, got a negative number"},
		{"encrypt = [\"on\"]", ":1: encrypt: want a string, got an array"},
		{"aggregator = [\"http://a\", 2]", ":1: aggregator: want an array of strings, item 2 is an integer"},
		{"new_key = \"yes\"", ":1: new_key: want true or false, got a string"},
		{"quilt_age = 10", `:1: quilt_age: want a duration: a string such as "10s" or "5m", got an integer`},
		{"block_size = \"lots\"", `:1: block_size: invalid argument "lots" for "--block-size" flag: size "lots": want a number`},
	} {
		if err := os.WriteFile(path, []byte(tc.text+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		fl, _ := newMountFlagsForTest()
		err := applyConfigFile(fl, path)
		if err == nil || !strings.Contains(err.Error(), path+tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.text, err, path+tc.want)
		}
	}
	// Sizes as numbers of bytes, and both spellings of a key.
	if err := os.WriteFile(path, []byte("cache_disk = 1073741824\nupload-concurrency = 5\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fl, data = newMountFlagsForTest()
	if err := applyConfigFile(fl, path); err != nil || data.cacheDisk.v != 1<<30 || data.concurrency != 5 {
		t.Fatalf("numeric size and dashed key: %v, %+v", err, data)
	}
}

func newMountFlagsForTest() (*pflag.FlagSet, *dataFlags) {
	fl := pflag.NewFlagSet("mount", pflag.ContinueOnError)
	fl.SetOutput(io.Discard)
	fl.String("config", "", "")
	var d dataFlags
	d.register(fl)
	return fl, &d
}

// TestNetworkStoresForMaxEpochs: with --publisher and no --epochs, blobs
// are stored for the most epochs Walrus allows (nothing renews leases yet),
// the daemon says so, and --epochs past the limit is refused.
func TestNetworkStoresForMaxEpochs(t *testing.T) {
	requireFuse(t)
	url := startServe(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags("--publisher", url, "--aggregator", url)...)
	// walrusfs serve starts a fresh store at epoch 0.
	if got := certifiedEndEpoch(t, d, mnt, "kept for long"); got != "53" {
		t.Errorf("end epoch %s, want 53", got)
	}
	if !strings.Contains(d.stderr.String(), "does not renew") {
		t.Errorf("no warning that leases are not renewed:\n%s", d.stderr.String())
	}
	d.stop(t)

	out, err := walrusfsCmd("mount", "--state-dir", t.TempDir(), "--publisher", url, "--aggregator", url, "--epochs", "54", t.TempDir()).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "at most 53 epochs") {
		t.Errorf("--epochs 54 accepted or unexplained: %v\n%s", err, out)
	}
}

// TestLocalStoresForRenewalTarget: on the local store, which renews the
// leases of referenced blobs, blobs are stored as far ahead as renewal
// extends to (chainsync's target), so new blobs need no renewal at once;
// and the daemon does not warn about renewal.
func TestLocalStoresForRenewalTarget(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	d := startDaemon(t, state, mnt, uploadTestFlags()...)
	// A fresh local store starts at epoch 0.
	if got, want := certifiedEndEpoch(t, d, mnt, "renewed"), fmt.Sprint(chainsync.DefaultConfig().TargetEpochsAhead); got != want {
		t.Errorf("end epoch %s, want %s", got, want)
	}
	if strings.Contains(d.stderr.String(), "does not renew") {
		t.Errorf("the local store warns that leases are not renewed:\n%s", d.stderr.String())
	}
	d.stop(t)
}

// certifiedEndEpoch writes content to file f of the mount, waits until it
// is certified and returns its user.walrus.end_epoch.
func certifiedEndEpoch(t *testing.T, d *daemon, mnt, content string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(mnt, "f"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCertified(t, mnt, map[string][32]byte{"f": sha256.Sum256([]byte(content))}, d)
	buf := make([]byte, 16)
	n, err := unix.Getxattr(filepath.Join(mnt, "f"), "user.walrus.end_epoch", buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

// TestKeySafety: the index remembers which key the volume's data is
// encrypted with. A mount whose key file is missing, holds another key, or
// is readable by others is refused, saying which key it expects; the right
// key file mounts again; --new-key starts a new key on purpose.
func TestKeySafety(t *testing.T) {
	requireFuse(t)
	state, mnt := t.TempDir(), t.TempDir()
	flags := uploadTestFlags("--encrypt", "on")
	d := startDaemon(t, state, mnt, flags...)
	plain := bytes.Repeat([]byte("encrypted walrus data "), 20000)
	if err := os.WriteFile(filepath.Join(mnt, "f"), plain, 0o644); err != nil {
		t.Fatal(err)
	}
	waitCertified(t, mnt, map[string][32]byte{"f": sha256.Sum256(plain)}, d)
	d.stop(t)

	out, err := walrusfsCmd("key", "show", "--state-dir", state).CombinedOutput()
	if err != nil {
		t.Fatalf("key show: %v\n%s", err, out)
	}
	keyPath := filepath.Join(state, keyFileName)
	k, err := blockcrypt.LoadKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	fp := k.Fingerprint()
	if groups, _ := k.Printable(); !strings.Contains(string(out), "fingerprint  "+fp) || !strings.Contains(string(out), groups) {
		t.Fatalf("key show does not print the key and its fingerprint %s:\n%s", fp, out)
	}
	saved, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	refused := func(what, want string) {
		t.Helper()
		args := append(append([]string{"mount", "--state-dir", state}, flags...), mnt)
		cmd := walrusfsCmd(args...)
		var buf syncBuffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		// A mount that is not refused would serve until stopped.
		stop := time.AfterFunc(20*time.Second, func() { _ = cmd.Process.Kill(); _ = unix.Unmount(mnt, unix.MNT_DETACH) })
		err := cmd.Wait()
		stop.Stop()
		out := []byte(buf.String())
		if err == nil || strings.Contains(buf.String(), "msg=mounted") {
			t.Fatalf("%s: mounted\n%s", what, out)
		}
		if !strings.Contains(string(out), want) || strings.Count(strings.TrimSpace(string(out)), "\n") != 0 {
			t.Fatalf("%s: want one line containing %q, got:\n%s", what, want, out)
		}
	}

	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	refused("key file missing", "is missing, and this volume's data is encrypted with key "+fp)
	if _, err := os.Stat(keyPath); !os.IsNotExist(err) {
		t.Fatalf("a refused mount made a key file: %v", err)
	}
	other, err := blockcrypt.CreateKey(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	refused("another key", "holds key "+other.Fingerprint()+", but this volume's data is encrypted with key "+fp)
	if err := os.WriteFile(keyPath, saved, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	refused("key readable by others", "chmod 600")

	if err := os.Chmod(keyPath, 0o600); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, state, mnt, flags...)
	if got, err := os.ReadFile(filepath.Join(mnt, "f")); err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("with the right key back: %v", err)
	}
	d.stop(t)

	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	d = startDaemon(t, state, mnt, append(flags, "--new-key")...)
	d.stop(t)
	k2, err := blockcrypt.LoadKey(keyPath)
	if err != nil || k2.Fingerprint() == fp {
		t.Fatalf("--new-key: key file %v, fingerprint %s (old %s)", err, k2.Fingerprint(), fp)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	refused("the new key's file removed", "encrypted with key "+k2.Fingerprint())
}
