package main

import (
	"io"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/walrusfs/walrusfs/chainsync/sui"
)

// TestChainRenew runs the renewal row's pass at 200 blobs: batched
// transactions extend them all (chainRenew checks the chain, the index and
// the price itself).
func TestChainRenew(t *testing.T) {
	const n = 200
	dir := filepath.Join(t.TempDir(), "chain")
	res, err := chainRenew(t.Context(), chainOpts{dir: dir, blobs: n})
	if err != nil {
		t.Fatal(err)
	}
	txs := (n + sui.DefaultBatchSize - 1) / sui.DefaultBatchSize
	if res.pass.Extended != n || res.calls[rpcExecute] != txs || res.gasMIST <= 0 || res.wal == 0 {
		t.Errorf("pass %+v, %d transactions, gas %d MIST, %d FROST of WAL; want %d extended by %d paid transactions",
			res.pass, res.calls[rpcExecute], res.gasMIST, res.wal, n, txs)
	}
	if files, _ := filepath.Glob(dir); len(files) != 0 {
		t.Errorf("%s left behind", dir)
	}
}

// TestChainFollowIdle runs the follower row at 200 blobs, 600 times
// faster than the defaults: idle polls read the clock and the balance,
// never the blobs, and an epoch change reconciles every blob.
func TestChainFollowIdle(t *testing.T) {
	const n, polls = 200, 5
	res, err := chainFollowIdle(t.Context(), chainOpts{dir: filepath.Join(t.TempDir(), "chain"), blobs: n}, 600, polls)
	if err != nil {
		t.Fatal(err)
	}
	for m, calls := range res.steady {
		if (m != rpcBatchGet && m != rpcBalance) || calls > polls+1 {
			t.Errorf("%d calls of %s in %d idle polls", calls, m, polls)
		}
	}
	if res.perHour <= 0 {
		t.Errorf("%v calls per hour while idle: nothing counted", res.perHour)
	}
	if res.epoch[rpcListOwned] < 1 || res.epoch[rpcBatchGet] < 2 {
		t.Errorf("an epoch change cost %s; want the owned objects listed and every blob's object read", callSummary(res.epoch))
	}
}

// TestBenchChainRowsWithoutMounts runs the harness with only the chain
// rows: nothing is mounted, no walrusfs binary is needed, and the run
// directory goes.
func TestBenchChainRowsWithoutMounts(t *testing.T) {
	workdir := t.TempDir()
	cfg := &config{
		subject: "walrusfs", walrusfs: filepath.Join(workdir, "no-such-binary"),
		size: 1 << 30, files: 10, randReads: 10, seeks: 1, repeat: 1, chainBlobs: 100,
		followSpeedup: 600, followPolls: 3,
		workdir: workdir, only: regexp.MustCompile(`^chain-`),
	}
	rep, err := bench(t.Context(), cfg, io.Discard, &liveDaemons{})
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, r := range rep.Rows {
		keys = append(keys, r.Key)
		if r.Verdict != pass || r.Loopback != nil || r.Ratio != nil || r.Subject.DaemonCPU == nil || *r.Subject.DaemonCPU <= 0 {
			t.Errorf("%s: verdict %q, subject %+v, loopback %+v", r.Key, r.Verdict, r.Subject, r.Loopback)
		}
	}
	if len(keys) != 2 || keys[0] != "chain-renew" || keys[1] != "chain-follow-idle" {
		t.Errorf("rows %v, want the two chain rows alone", keys)
	}
	if len(rep.Mounts) != 0 {
		t.Errorf("mounted %v", rep.Mounts)
	}
	if runs, _ := filepath.Glob(filepath.Join(workdir, "run-*")); len(runs) != 0 {
		t.Errorf("run directories left: %v", runs)
	}
}
