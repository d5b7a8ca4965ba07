package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync"
	"github.com/walrusfs/walrusfs/fs/fsck"
)

// The control socket's fsck and gc:
//
//	POST /v1/fsck?verify_data=1&repair=1  check the mounted volume; the
//	     reply is JSON lines: {"progress":{"done":N,"total":N}} while
//	     --verify-data reads, then {"report":fsckReport}
//	POST /v1/gc?dry_run=1&grace=N          plan, and unless dry_run carry
//	     out, the collection of unreferenced blobs; the reply is gcReport
//
// One fsck or gc runs at a time; the mount keeps serving meanwhile.

// volumeParts are what fsck and gc need from a mount beyond the index and
// the engine.
type volumeParts struct {
	store  blobstore.Store
	ledger chainsync.Ledger // nil when walrusfs cannot collect
	gc     chainsync.CollectConfig
}

// fsckLine is one line of POST /v1/fsck's reply.
type fsckLine struct {
	Progress *fsckProgress `json:"progress,omitempty"`
	Report   *fsckReport   `json:"report,omitempty"`
	Error    string        `json:"error,omitempty"`
}

type fsckProgress struct {
	Done  int64 `json:"done"`
	Total int64 `json:"total"`
}

func registerFsck(mux *http.ServeMux, c *control) {
	mux.HandleFunc("POST /v1/fsck", func(w http.ResponseWriter, r *http.Request) {
		if !c.maintenance.TryLock() {
			http.Error(w, "an fsck or gc is already running on this mount; wait for it", http.StatusConflict)
			return
		}
		defer c.maintenance.Unlock()
		q := r.URL.Query()
		cfg := fsck.DefaultConfig()
		cfg.VerifyData, cfg.Repair = q.Get("verify_data") == "1", q.Get("repair") == "1"
		w.Header().Set("Content-Type", "application/x-ndjson")
		w.WriteHeader(http.StatusOK)
		enc := json.NewEncoder(w)
		flusher, _ := w.(http.Flusher)
		send := func(l fsckLine) {
			_ = enc.Encode(l)
			if flusher != nil {
				flusher.Flush()
			}
		}
		parts := fsck.Parts{
			Index: c.idx, Store: c.parts.store, StagingDir: c.stagingDir(),
			Requeued: c.engine.Requeued, Restore: c.engine.RestoreFromCache,
			Progress: func(done, total int64) { send(fsckLine{Progress: &fsckProgress{done, total}}) },
		}
		rep, err := fsck.Run(r.Context(), cfg, parts)
		if err != nil {
			send(fsckLine{Error: err.Error()})
			return
		}
		report := newFsckReport(c.mnt, rep)
		report.Mountpoint = c.mnt
		send(fsckLine{Report: report})
	})
}

func registerGC(mux *http.ServeMux, c *control) {
	mux.HandleFunc("POST /v1/gc", func(w http.ResponseWriter, r *http.Request) {
		if !c.maintenance.TryLock() {
			http.Error(w, "an fsck or gc is already running on this mount; wait for it", http.StatusConflict)
			return
		}
		defer c.maintenance.Unlock()
		q := r.URL.Query()
		gcfg := c.parts.gc
		if g := q.Get("grace"); g != "" {
			n, err := strconv.ParseUint(g, 10, 32)
			if err != nil {
				http.Error(w, "grace: want a number of epochs", http.StatusBadRequest)
				return
			}
			gcfg.Grace = uint32(n)
		}
		rep, err := runCollect(r.Context(), c.parts.ledger, c.idx, gcfg, q.Get("dry_run") == "1", c.engine.HoldUploads)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(rep)
	})
}

// runCollect plans and, unless dry, carries out a collection, with
// uploads held (hold is nil offline, where none runs).
func runCollect(ctx context.Context, ledger chainsync.Ledger, idx chainsync.CollectIndex, cfg chainsync.CollectConfig, dry bool, hold func(context.Context) (func(), error)) (gcReport, error) {
	if !dry && hold != nil {
		release, err := hold(ctx)
		if err != nil {
			return gcReport{}, err
		}
		defer release()
	}
	plan, err := chainsync.PlanCollect(ctx, ledger, idx, cfg)
	if err != nil {
		return gcReport{}, err
	}
	rep := newGCReport(plan, dry)
	if dry {
		return rep, nil
	}
	done, err := chainsync.Collect(ctx, ledger, idx, plan)
	if err != nil {
		return rep, err
	}
	rep.fill(done)
	return rep, nil
}
