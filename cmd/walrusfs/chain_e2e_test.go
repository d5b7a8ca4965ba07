package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// localChain is a `walrusfs serve --chain` process: a local Walrus on Sui.
type localChain struct {
	t         *testing.T
	config    string // its client.toml
	publisher string
}

func startChainServe(t *testing.T) *localChain {
	t.Helper()
	store := t.TempDir()
	addr, stdout := startServeProcess(t, "serve", "--chain", "--chain-port", "0", "--listen", "127.0.0.1:0", "--store", store,
		"--shards", fmt.Sprint(e2eShards), "--quilt-shards", fmt.Sprint(e2eShards))
	lc := &localChain{t: t, config: filepath.Join(store, "client.toml"), publisher: "http://" + addr}
	for deadline := time.Now().Add(5 * time.Second); stdout.String() == "" && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if got := strings.TrimSpace(stdout.String()); got != lc.config {
		t.Fatalf("serve --chain printed %q, want the path of its client.toml %s", got, lc.config)
	}
	return lc
}

// run runs a walrusfs command and returns its standard output.
func (lc *localChain) run(args ...string) string {
	lc.t.Helper()
	cmd := walrusfsCmd(args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		lc.t.Fatalf("walrusfs %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// control calls one of the local network's test controls.
func (lc *localChain) control(path string, q url.Values) {
	lc.t.Helper()
	resp, err := http.Post(lc.publisher+"/walrusfs/chain/"+path+"?"+q.Encode(), "", nil)
	if err != nil {
		lc.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		lc.t.Fatalf("chain control %s: %s", path, resp.Status)
	}
}

type chainStatusJSON struct {
	Epoch struct {
		Number uint32 `json:"number"`
	} `json:"epoch"`
	Address  string `json:"address"`
	Balances struct {
		WAL      string `json:"wal"`
		SUI      string `json:"sui"`
		WALCoins string `json:"wal_coins"`
	} `json:"balances"`
	Blobs struct {
		Owned, Certified, Expired int
	} `json:"blobs"`
	Warnings []string `json:"warnings"`
}

func (lc *localChain) status(key string) chainStatusJSON {
	lc.t.Helper()
	var st chainStatusJSON
	out := lc.run("chain", "status", "--json", "--config", lc.config, "--sui-key", key)
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		lc.t.Fatalf("chain status --json: %v\n%s", err, out)
	}
	return st
}

func endEpochs(t *testing.T, root string, names []string) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	buf := make([]byte, 32)
	for _, name := range names {
		n, err := unix.Getxattr(filepath.Join(root, name), "user.walrus.end_epoch", buf)
		if err != nil {
			t.Fatalf("%s: end epoch: %v", name, err)
		}
		e, err := strconv.ParseUint(string(buf[:n]), 10, 32)
		if err != nil {
			t.Fatalf("%s: end epoch %q", name, buf[:n])
		}
		out[name] = uint32(e)
	}
	return out
}

// TestChainEndToEnd runs a local Walrus on Sui and a mount with a funded
// key: files are certified on chain; epochs advance through three times
// the 53-epoch cap while the mount runs, with a price change, bursts of
// UNAVAILABLE and a kill -9 in the middle; no referenced blob expires, no
// lease is extended past its target (nothing paid twice), and every byte
// reads back from Walrus with no local copy and no cache; a deleted file's
// blob is deleted on chain after the grace period.
func TestChainEndToEnd(t *testing.T) {
	requireFuse(t)
	lc := startChainServe(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "sui.key")
	addr := strings.TrimSpace(lc.run("chain", "keygen", "--out", key))
	lc.run("chain", "fund", "--config", lc.config, "--address", addr, "--wal", "1000", "--sui", "100")
	if st := lc.status(key); st.Address != addr || st.Balances.WAL != "1000" || st.Balances.SUI != "100" || st.Balances.WALCoins != "1000" {
		t.Fatalf("after funding: %+v", st)
	}

	const before, target = 3, 12
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	flags := uploadTestFlags("--config", lc.config, "--sui-key", key, "--chain-poll", "100ms",
		"--renew-before", fmt.Sprint(before), "--renew-target", fmt.Sprint(target), "--gc-grace", "2",
		"--local-copies", "0", "--cache-disk", "0", "--log-level", "debug")
	d := startDaemon(t, state, mnt, flags...)
	sums := map[string][32]byte{}
	for name, sum := range writeTestFiles(t, mnt, 7) {
		if strings.HasPrefix(name, "large") || name < "small040" {
			sums[name] = sum
		} else if err := os.Remove(filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
	}
	waitCertified(t, mnt, sums, d)
	st := lc.status(key)
	if st.Blobs.Owned == 0 || st.Blobs.Certified != st.Blobs.Owned {
		t.Fatalf("after upload: %+v", st.Blobs)
	}
	names := make([]string, 0, len(sums))
	for n := range sums {
		names = append(names, n)
	}

	// Three times the 53-epoch cap, a few epochs at a time: a lease more
	// than `before` epochs from its end when a pass runs outlives the
	// next step.
	epoch := st.Epoch.Number
	step := uint32(before)
	killed, repriced := false, false
	for epoch < 3*53 {
		lc.control("advance", url.Values{"epochs": {fmt.Sprint(step)}})
		epoch += step
		switch {
		case epoch > 53 && !repriced:
			lc.control("prices", url.Values{"storage": {"150000"}, "write": {"20000"}})
			repriced = true
		case epoch > 80 && !killed:
			// The pass for this epoch runs now: kill the daemon in it.
			time.Sleep(50 * time.Millisecond)
			d.kill9(t)
			d = startDaemon(t, state, mnt, flags...)
			killed = true
		case epoch%3 == 0:
			lc.control("fail", url.Values{"n": {"3"}})
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			ends := endEpochs(t, mnt, names)
			renewed := true
			for name, end := range ends {
				if end > epoch+target {
					t.Fatalf("epoch %d: %s ends at %d, past the target %d epochs ahead: a lease was extended twice", epoch, name, end, target)
				}
				if end <= epoch+before {
					renewed = false
				}
			}
			if renewed {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("epoch %d: leases not renewed: %v\n%s", epoch, ends, d.stderr.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	if st := lc.status(key); st.Epoch.Number != epoch || st.Blobs.Expired != 0 {
		t.Fatalf("at epoch %d: %+v", epoch, st)
	}

	// Every byte from Walrus: no staged copy and no cache to fall back on.
	d.stop(t)
	if err := os.RemoveAll(filepath.Join(state, "staging")); err != nil {
		t.Fatal(err)
	}
	_ = os.RemoveAll(filepath.Join(state, "cache"))
	d = startDaemon(t, state, mnt, flags...)
	checkFiles(t, mnt, sums)

	// A deleted file's blob goes from the chain after the grace period.
	owned := lc.status(key).Blobs.Owned
	if err := os.Remove(filepath.Join(mnt, "large0")); err != nil {
		t.Fatal(err)
	}
	delete(sums, "large0")
	for range 4 {
		lc.control("advance", url.Values{"epochs": {"1"}})
		time.Sleep(300 * time.Millisecond)
	}
	deadline := time.Now().Add(30 * time.Second)
	for lc.status(key).Blobs.Owned >= owned {
		if time.Now().After(deadline) {
			t.Fatalf("the deleted file's Blob object is still owned\n%s", d.stderr.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	checkFiles(t, mnt, sums)
	d.stop(t)
}

// TestChainDryRuns: chain renew and chain gc --dry-run show the
// transactions a pass would send, as base64 TransactionData with a
// summary, and send nothing.
func TestChainDryRuns(t *testing.T) {
	requireFuse(t)
	lc := startChainServe(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "sui.key")
	addr := strings.TrimSpace(lc.run("chain", "keygen", "--out", key))
	lc.run("chain", "fund", "--config", lc.config, "--address", addr, "--wal", "100", "--sui", "10")
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	flags := uploadTestFlags("--config", lc.config, "--sui-key", key, "--chain-poll", "100ms", "--renew-before", "2", "--renew-target", "6")
	d := startDaemon(t, state, mnt, flags...)
	sums := map[string][32]byte{}
	for name, sum := range writeTestFiles(t, mnt, 3) {
		if strings.HasPrefix(name, "large") {
			sums[name] = sum
		} else if err := os.Remove(filepath.Join(mnt, name)); err != nil {
			t.Fatal(err)
		}
	}
	waitCertified(t, mnt, sums, d)
	if err := os.Remove(filepath.Join(mnt, "large2")); err != nil {
		t.Fatal(err)
	}
	delete(sums, "large2")
	// An epoch change with the mount running: its pass marks the deleted
	// file's blob as unreferenced.
	lc.control("advance", url.Values{"epochs": {"1"}})
	time.Sleep(time.Second)
	d.stop(t)
	lc.control("advance", url.Values{"epochs": {"4"}}) // epoch 5: leases ending at 6 are due; the grace has passed

	before := lc.status(key)
	var vol struct {
		Volume struct {
			Referenced, Unreferenced int
			Next                     uint32 `json:"next_renewal_epoch"`
		} `json:"volume"`
	}
	out := lc.run("chain", "status", "--json", "--config", lc.config, "--sui-key", key, "--state-dir", state)
	if err := json.Unmarshal([]byte(out), &vol); err != nil || vol.Volume.Referenced == 0 || vol.Volume.Unreferenced == 0 || vol.Volume.Next == 0 {
		t.Fatalf("status with the volume: %v\n%s", err, out)
	}
	var renew dryRunJSON
	out = lc.run("chain", "renew", "--dry-run", "--json", "--config", lc.config, "--sui-key", key, "--state-dir", state)
	if err := json.Unmarshal([]byte(out), &renew); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(renew.Transactions) != 1 || len(renew.Transactions[0].Objects) == 0 || renew.Transactions[0].MaxWAL == "" ||
		!strings.HasPrefix(renew.Transactions[0].Summary, "extend ") {
		t.Fatalf("renew --dry-run: %s", out)
	}
	var gc dryRunJSON
	out = lc.run("chain", "gc", "--dry-run", "--json", "--config", lc.config, "--sui-key", key, "--state-dir", state)
	if err := json.Unmarshal([]byte(out), &gc); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if len(gc.Transactions) != 1 || len(gc.Transactions[0].Objects) == 0 || !strings.HasPrefix(gc.Transactions[0].Summary, "delete ") {
		t.Fatalf("gc --dry-run: %s", out)
	}
	for _, tx := range append(renew.Transactions, gc.Transactions...) {
		if _, err := base64.StdEncoding.DecodeString(tx.TxData); err != nil || tx.Digest == "" {
			t.Fatalf("transaction %+v", tx)
		}
	}
	if after := lc.status(key); after.Balances != before.Balances || after.Blobs != before.Blobs {
		t.Fatalf("a dry run changed the chain: %+v, then %+v", before, after)
	}
	// Without a state directory, every owned blob counts as referenced.
	out = lc.run("chain", "renew", "--dry-run", "--config", lc.config, "--sui-key", key)
	if !strings.Contains(out, "extend ") {
		t.Fatalf("renew --dry-run without a state directory: %s", out)
	}
}

// TestChainEmptyWallet: with a key that holds nothing, uploads still work
// (the publisher pays), renewal fails with one clear line naming the
// address, and nothing local is lost.
func TestChainEmptyWallet(t *testing.T) {
	requireFuse(t)
	lc := startChainServe(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "sui.key")
	addr := strings.TrimSpace(lc.run("chain", "keygen", "--out", key))
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, state, mnt, uploadTestFlags("--config", lc.config, "--sui-key", key, "--chain-poll", "100ms", "--renew-before", "2", "--renew-target", "6")...)
	if err := os.WriteFile(filepath.Join(mnt, "f"), bytes.Repeat([]byte("walrus"), 100000), 0o644); err != nil {
		t.Fatal(err)
	}
	waitCertified(t, mnt, map[string][32]byte{"f": {}}, d)
	lc.control("advance", url.Values{"epochs": {"4"}})
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(d.stderr.String(), "no SUI to pay for gas") {
		if time.Now().After(deadline) {
			t.Fatalf("no clear error about the empty wallet:\n%s", d.stderr.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !strings.Contains(d.stderr.String(), addr) {
		t.Fatalf("the error does not name the address %s:\n%s", addr, d.stderr.String())
	}
	b, err := os.ReadFile(filepath.Join(mnt, "f"))
	if err != nil || !bytes.Equal(b, bytes.Repeat([]byte("walrus"), 100000)) {
		t.Fatalf("reading back: %v", err)
	}
	d.stop(t)
}

// TestChainWrongNetwork: a mount that names a network its full node does
// not serve is refused with one line saying so.
func TestChainWrongNetwork(t *testing.T) {
	lc := startChainServe(t)
	b, err := os.ReadFile(lc.config)
	if err != nil {
		t.Fatal(err)
	}
	rpc := regexp.MustCompile(`sui_rpc = "([^"]+)"`).FindSubmatch(b)
	cmd := walrusfsCmd("chain", "status", "--network", "testnet", "--sui-rpc", string(rpc[1]))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil || !strings.Contains(stderr.String(), "not testnet") {
		t.Fatalf("status against the wrong chain: %v\n%s", err, stderr.String())
	}
	if n := strings.Count(strings.TrimSpace(stderr.String()), "\n"); n != 0 {
		t.Fatalf("more than one line:\n%s", stderr.String())
	}
	// The local network's controls refuse a public network.
	cmd = walrusfsCmd("chain", "advance", "--network", "testnet", "--epochs", "1")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err == nil {
		t.Fatal("chain advance against testnet was accepted")
	}
}

// TestGCOnSui: with chain sync, walrusfs gc on the mount deletes the Blob
// object of a deleted file's blob on the (local) chain at once, keeps the
// objects files still use, and a later fsck is clean.
func TestGCOnSui(t *testing.T) {
	requireFuse(t)
	lc := startChainServe(t)
	dir := t.TempDir()
	key := filepath.Join(dir, "sui.key")
	addr := strings.TrimSpace(lc.run("chain", "keygen", "--out", key))
	lc.run("chain", "fund", "--config", lc.config, "--address", addr, "--wal", "100", "--sui", "10")
	state, mnt := filepath.Join(dir, "state"), filepath.Join(dir, "mnt")
	if err := os.Mkdir(mnt, 0o755); err != nil {
		t.Fatal(err)
	}
	d := startDaemon(t, state, mnt, uploadTestFlags("--config", lc.config, "--sui-key", key, "--chain-poll", "100ms")...)
	keep := writeRandom(t, filepath.Join(mnt, "keep"), 1<<20, 20)
	writeRandom(t, filepath.Join(mnt, "gone"), 1<<20, 21)
	waitCertified(t, mnt, map[string][32]byte{"keep": keep, "gone": {}}, d)
	if err := os.Remove(filepath.Join(mnt, "gone")); err != nil {
		t.Fatal(err)
	}
	before := lc.status(key)
	dry := runGCJSON(t, "--dry-run", mnt)
	if dry.Count != 1 || len(dry.Objects) != 1 || dry.Unreferenced[0].Object != dry.Objects[0] {
		t.Fatalf("gc --dry-run with chain sync: %+v", dry)
	}
	if after := lc.status(key); after.Blobs != before.Blobs {
		t.Fatalf("gc --dry-run changed the chain: %+v, then %+v", before.Blobs, after.Blobs)
	}
	done := runGCJSON(t, mnt)
	if done.Collected == nil || done.Collected.Blobs != 1 || done.Collected.Objects != 1 || len(done.Collected.Failed) != 0 {
		t.Fatalf("gc with chain sync: %+v", done)
	}
	if after := lc.status(key); after.Blobs.Owned != before.Blobs.Owned-1 {
		t.Fatalf("owned Blob objects: %d before gc, %d after", before.Blobs.Owned, after.Blobs.Owned)
	}
	if r, code := runFsckJSON(t, "--verify-data", mnt); code != 0 || !r.Clean {
		t.Fatalf("fsck after gc on Sui: exit %d, %+v", code, r.Findings)
	}
	checkSum(t, filepath.Join(mnt, "keep"), keep)
}
