package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/fs/filedata"
	treesnap "github.com/walrusfs/walrusfs/fs/snapshot"
	"github.com/walrusfs/walrusfs/index"
)

// Snapshots on a running mount, through the control socket:
//
//	POST /v1/snapshot          take one now; the reply streams JSON lines,
//	                           progress ({"phase", "done", "total"}) and
//	                           then {"id", …} or {"error"}
//	GET  /v1/snapshots         the kept snapshots, oldest first
//	POST /v1/snapshot/retire?id=ID  retire one (its blobs become garbage
//	                           unless something else needs them)

// snapshotFlags are the mount's snapshot flags.
type snapshotFlags struct {
	every time.Duration
	keep  int
	// id and key mount a snapshot read-only instead of the volume.
	id, key string
}

func (s *snapshotFlags) register(fl *pflag.FlagSet) {
	fl.DurationVar(&s.every, "snapshot-every", 0, "take a snapshot of the tree this often (e.g. 24h); 0: only by hand (walrusfs snapshot)")
	fl.IntVar(&s.keep, "snapshot-keep", 0, "keep this many snapshots, the newest (by hand or scheduled); older ones are retired and their blobs become garbage; 0 keeps all")
	fl.StringVar(&s.id, "snapshot", "", "mount this snapshot (the ID walrusfs snapshot printed) read-only instead of the volume; needs the store flags and, for an encrypted volume, --key")
	fl.StringVar(&s.key, "key", "", "with --snapshot: the volume's key file")
}

// check refuses flag combinations that cannot work.
func (s *snapshotFlags) check(readOnly bool) error {
	switch {
	case s.every < 0 || s.keep < 0:
		return fmt.Errorf("--snapshot-every and --snapshot-keep cannot be negative: %w", errUsage)
	case s.every > 0 && s.every < time.Second:
		return fmt.Errorf("--snapshot-every %v: take snapshots at most once a second: %w", s.every, errUsage)
	case s.id != "" && s.every > 0:
		return fmt.Errorf("--snapshot mounts a snapshot read-only; it takes none (drop --snapshot-every): %w", errUsage)
	case s.every > 0 && readOnly:
		return fmt.Errorf("--snapshot-every needs a writable mount (a read-only mount records no snapshots): %w", errUsage)
	case s.key != "" && s.id == "":
		return fmt.Errorf("--key goes with --snapshot (a volume's own key is STATE_DIR/walrusfs.key): %w", errUsage)
	}
	return nil
}

// prepareSnapshotMount restores snapshot s.id into a temporary state
// directory inside stateDir for a read-only mount and returns it, with the
// function that removes it. The local store defaults to the one of
// stateDir.
func prepareSnapshotMount(ctx context.Context, s *snapshotFlags, data *dataFlags, stateDir string, log *slog.Logger) (string, func(), error) {
	if !data.network() && data.store == "" {
		data.store = filepath.Join(stateDir, "store")
	}
	snap, closeStore, err := openSnapshot(ctx, s.id, s.key, data, log)
	if err != nil {
		return "", nil, err
	}
	defer closeStore()
	// Next to the volume's own state (not in /tmp, often memory): the
	// index of a large tree is hundreds of megabytes.
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return "", nil, fmt.Errorf("cannot create state directory: %w", err)
	}
	tmp, err := os.MkdirTemp(stateDir, ".snapshot-mount-")
	if err != nil {
		return "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(tmp) }
	dir := filepath.Join(tmp, "state")
	if _, err := snap.RestoreTo(ctx, dir, index.DefaultConfig(), nil); err != nil {
		cleanup()
		return "", nil, err
	}
	if s.key != "" {
		if err := copyKeyFile(s.key, dir); err != nil {
			cleanup()
			return "", nil, err
		}
	}
	log.Info("mounting a snapshot read-only", "snapshot", snap.ID, "created", snap.Manifest.Created, "inodes", snap.Manifest.Inodes)
	return dir, cleanup, nil
}

// snapshotReply is one line of POST /v1/snapshot's reply.
type snapshotReply struct {
	Phase  string `json:"phase,omitempty"`
	Done   int64  `json:"done,omitempty"`
	Total  int64  `json:"total,omitempty"`
	ID     string `json:"id,omitempty"`
	Parts  int    `json:"parts,omitempty"`
	Bytes  int64  `json:"bytes,omitempty"`
	Inodes uint64 `json:"inodes,omitempty"`
	Error  string `json:"error,omitempty"`
}

// snapshotInfo is one entry of GET /v1/snapshots.
type snapshotInfo struct {
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	Inodes  uint64    `json:"inodes"`
	Bytes   uint64    `json:"bytes"`
	Pinned  uint64    `json:"pinned_blobs"`
}

// newTaker wires snapshots of the mounted volume: the dump is stored like
// file data (same store, options and key), in parts of at most a chunk.
func newTaker(idx *index.Index, engine *filedata.Engine, cfg *filedata.Config, stateDir string, log *slog.Logger) *treesnap.Taker {
	if n, err := index.RemoveStaleDumps(stateDir); err != nil {
		log.Warn("cannot remove the index copies a snapshot left", "err", err)
	} else if n > 0 {
		log.Info("removed the index copies an interrupted snapshot left", "files", n)
	}
	sc := treesnap.DefaultConfig()
	sc.PartSize = min(sc.PartSize, int(cfg.ChunkSize))
	sc.TempDir = stateDir
	sc.Put = blobstore.PutOptions{Epochs: cfg.Upload.Epochs, SendObjectTo: cfg.Upload.SendObjectTo}
	sc.CertifiedByChain = cfg.Upload.CertifiedByChain
	t := &treesnap.Taker{Index: idx, Store: cfg.Store, Flush: engine.WaitUploaded, Cfg: sc, Log: log}
	if cfg.Codec.Layout().Encrypted {
		t.Key = cfg.Key
	}
	return t
}

// registerSnapshotHandlers adds the snapshot endpoints to the control
// socket.
func registerSnapshotHandlers(mux *http.ServeMux, c *control) {
	mux.HandleFunc("POST /v1/snapshot", func(w http.ResponseWriter, r *http.Request) {
		if c.snapshots == nil {
			http.Error(w, "this mount takes no snapshots (it is read-only)", http.StatusConflict)
			return
		}
		w.Header().Set("Content-Type", "application/x-ndjson")
		enc := json.NewEncoder(w)
		fl, _ := w.(http.Flusher)
		send := func(v snapshotReply) {
			_ = enc.Encode(v)
			if fl != nil {
				fl.Flush()
			}
		}
		last := time.Time{}
		res, err := c.snapshots.take(r.Context(), func(p treesnap.Progress) {
			if time.Since(last) < 200*time.Millisecond && p.Total == 0 {
				return
			}
			last = time.Now()
			send(snapshotReply{Phase: p.Phase, Done: p.Done, Total: p.Total})
		})
		if err != nil {
			send(snapshotReply{Error: err.Error()})
			return
		}
		m := res.Manifest
		send(snapshotReply{ID: res.ID.String(), Parts: len(m.Parts), Bytes: m.StoredSize(), Inodes: m.Inodes})
	})
	mux.HandleFunc("GET /v1/snapshots", func(w http.ResponseWriter, r *http.Request) {
		snaps, err := c.idx.Snapshots()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		out := []snapshotInfo{}
		for _, s := range snaps {
			out = append(out, snapshotInfo{ID: blobstore.ID(s.Root).String(), Created: time.Unix(0, s.Created).UTC(), Inodes: s.Inodes, Bytes: s.Bytes, Pinned: s.Pinned})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	mux.HandleFunc("POST /v1/snapshot/retire", func(w http.ResponseWriter, r *http.Request) {
		id, err := blobstore.ParseID(r.URL.Query().Get("id"))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ok, err := c.idx.RetireSnapshot(id)
		switch {
		case err != nil:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		case !ok:
			http.Error(w, fmt.Sprintf("this volume keeps no snapshot %s", id), http.StatusNotFound)
		default:
			w.WriteHeader(http.StatusNoContent)
		}
	})
}

// snapshotter takes snapshots for the control socket and the schedule,
// and retires the oldest beyond keep.
type snapshotter struct {
	taker *treesnap.Taker
	idx   *index.Index
	keep  int
	log   *slog.Logger
}

func (s *snapshotter) take(ctx context.Context, progress func(treesnap.Progress)) (treesnap.Result, error) {
	res, err := s.taker.Take(ctx, progress)
	if err != nil {
		return res, err
	}
	if s.keep > 0 {
		snaps, err := s.idx.Snapshots()
		if err != nil {
			return res, err
		}
		for _, old := range snaps[:max(len(snaps)-s.keep, 0)] {
			if _, err := s.idx.RetireSnapshot(old.Root); err != nil {
				return res, err
			}
			s.log.Info("snapshot retired", "id", blobstore.ID(old.Root), "created", time.Unix(0, old.Created).UTC())
		}
	}
	return res, nil
}

// start takes a snapshot every interval in the background until the
// returned function is called, which waits for a snapshot under way.
func (s *snapshotter) start(ctx context.Context, every time.Duration) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.schedule(ctx, every)
	}()
	return func() { cancel(); <-done }
}

func (s *snapshotter) schedule(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if _, err := s.take(ctx, nil); err != nil && ctx.Err() == nil {
			s.log.Error("scheduled snapshot failed; trying again at the next one", "err", err)
		}
	}
}

func snapshotCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "snapshot [--list | --retire ID] MOUNTPOINT",
		short: "store a snapshot of a mount's tree in its store and print its ID (--list, --retire)",
		long: `Stores a point-in-time snapshot of the mount's tree in its store, once
everything written before is uploaded, and prints its ID (a progress bar on a
terminal). With the ID and the key file, walrusfs restore or mount --snapshot
gives the tree back on any machine that reaches the store. --list prints the
snapshots the volume keeps; --retire retires one.`,
		args: exactArgs(1, "MOUNTPOINT"),
		setup: func(fl *pflag.FlagSet) runFunc {
			list := fl.Bool("list", false, "list the snapshots the volume keeps (ID, date, inodes, size)")
			retire := fl.String("retire", "", "retire the snapshot ID: its blobs become garbage unless something else needs them")
			return func(ctx context.Context, args []string, stdout, stderr io.Writer) error {
				return runSnapshot(ctx, args[0], *list, *retire, stdout, stderr)
			}
		},
	})
}

func runSnapshot(ctx context.Context, mnt string, list bool, retire string, stdout, stderr io.Writer) error {
	c, err := findControl(mnt, "")
	if err != nil {
		return err
	}
	switch {
	case list:
		var snaps []snapshotInfo
		if err := c.get(ctx, "/v1/snapshots", &snaps); err != nil {
			return err
		}
		for _, s := range snaps {
			fmt.Fprintf(stdout, "%s  %s  %d inodes  %s\n", s.ID, s.Created.Format(time.RFC3339), s.Inodes, humanSize(s.Bytes))
		}
		return nil
	case retire != "":
		if _, err := blobstore.ParseID(retire); err != nil {
			return fmt.Errorf("--retire %q: %w: %w", retire, err, errUsage)
		}
		return c.do(ctx, http.MethodPost, "/v1/snapshot/retire?id="+retire, nil)
	}
	c.http.Timeout = 0 // a snapshot of a large tree takes a while
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://walrusfs/v1/snapshot", nil)
	if err != nil {
		return err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("the mount does not answer on %s: %w", c.socket, err)
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		return fmt.Errorf("the mount answered %s: %s", resp.Status, strings.TrimSpace(string(b)))
	}
	bar := newProgress(stderr, 0, true, phaseWords["flush"])
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		var r snapshotReply
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bar.stop()
			return fmt.Errorf("the mount answered a line that is not JSON: %w", err)
		}
		switch {
		case r.Error != "":
			bar.stop()
			return errors.New(r.Error)
		case r.ID != "":
			bar.finish()
			fmt.Fprintln(stdout, r.ID)
			return nil
		default:
			showProgress(bar, treesnap.Progress{Phase: r.Phase, Done: r.Done, Total: r.Total})
		}
	}
	bar.stop()
	if err := sc.Err(); err != nil {
		return fmt.Errorf("the mount stopped answering: %w", err)
	}
	return errors.New("the mount ended its reply without a snapshot ID; see its log")
}

var phaseWords = map[string]string{"flush": "uploading what is written", "dump": "storing the snapshot", "restore": "restoring the index"}

// showProgress moves bar (nil off a terminal) to p.
func showProgress(bar *progress, p treesnap.Progress) {
	bar.describe(phaseWords[p.Phase])
	bar.set(p.Done, max(p.Total, p.Done))
}

// copyKeyFile puts the key file at src into stateDir as the volume's key,
// unless the one there is the same key.
func copyKeyFile(src, stateDir string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	dst := filepath.Join(stateDir, keyFileName)
	if old, err := os.ReadFile(dst); err == nil {
		if string(old) == string(b) {
			return nil
		}
		return fmt.Errorf("%s holds another key file than %s; remove it or give that key", dst, src)
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		_ = f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}
