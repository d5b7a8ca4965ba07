package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/index"
)

// fileInfo is the documented `walrusfs info --json` schema, one per path.
type fileInfo struct {
	Path     string      `json:"path"`
	State    string      `json:"state"`
	Size     uint64      `json:"size"`
	EndEpoch uint32      `json:"end_epoch,omitempty"`
	EndDate  *time.Time  `json:"end_date,omitempty"`
	Chunks   []chunkInfo `json:"chunks"`
}

type chunkInfo struct {
	Index     uint64     `json:"index"`
	State     string     `json:"state"`
	ID        string     `json:"id,omitempty"` // blob ID, or quilt patch ID
	Object    string     `json:"object,omitempty"`
	EndEpoch  uint32     `json:"end_epoch,omitempty"`
	EndDate   *time.Time `json:"end_date,omitempty"`
	LocalCopy bool       `json:"local_copy"`
}

// info answers /v1/info for one path inside the mount.
func (c *control) info(path string) (fileInfo, int, error) {
	rel, err := filepath.Rel(c.mnt, filepath.Clean(path))
	if err != nil || rel == ".." || strings.HasPrefix(rel, "../") {
		return fileInfo{}, http.StatusBadRequest, fmt.Errorf("%s is not inside the mount %s", path, c.mnt)
	}
	ino := index.RootIno
	var a index.Attr
	if a, err = c.idx.GetAttr(ino); err != nil {
		return fileInfo{}, http.StatusInternalServerError, err
	}
	if rel != "." {
		for _, name := range strings.Split(rel, "/") {
			if a, err = c.idx.Lookup(ino, name); err != nil {
				if errors.Is(err, syscall.ENOENT) {
					return fileInfo{}, http.StatusNotFound, fmt.Errorf("%s: no such file", path)
				}
				return fileInfo{}, http.StatusInternalServerError, err
			}
			ino = a.Ino
		}
	}
	st, err := c.engine.Status(ino)
	if errors.Is(err, syscall.ENODATA) {
		return fileInfo{}, http.StatusBadRequest, fmt.Errorf("%s is not a regular file", path)
	}
	if err != nil {
		return fileInfo{}, http.StatusInternalServerError, err
	}
	fi := fileInfo{Path: path, State: st.State.String(), Size: a.Size, EndEpoch: st.EndEpoch, Chunks: []chunkInfo{}}
	fi.EndDate = c.date(st.EndEpoch)
	for _, d := range st.Detail {
		fi.Chunks = append(fi.Chunks, chunkInfo{
			Index: d.N, State: d.State.String(), ID: d.Name, Object: d.ObjectID, EndEpoch: d.EndEpoch,
			EndDate: c.date(d.EndEpoch), LocalCopy: d.LocalCopy,
		})
	}
	return fi, http.StatusOK, nil
}

// date is when epoch e starts, when the mount knows its epoch clock.
func (c *control) date(e uint32) *time.Time {
	if e == 0 || c.epochStart == nil {
		return nil
	}
	t, ok := c.epochStart(e)
	if !ok {
		return nil
	}
	t = t.UTC()
	return &t
}

// findMountOf returns the walrusfs mount that holds path: the longest
// walrusfs mountpoint that contains it.
func findMountOf(path string) (string, error) {
	mounts, err := mountTable()
	if err != nil {
		return "", err
	}
	best := ""
	for _, m := range mounts {
		if m.fstype == "fuse.walrusfs" && (path == m.point || strings.HasPrefix(path, strings.TrimSuffix(m.point, "/")+"/")) && len(m.point) > len(best) {
			best = m.point
		}
	}
	if best == "" {
		return "", fmt.Errorf("%s is not on a walrusfs mount", path)
	}
	return best, nil
}

func infoCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "info [--json] PATH...",
		short: "show where each file's data is: state and, per chunk, blob or patch, lease end, local copy",
		long: `Shows where each file's data is: its state and, per chunk, the blob or quilt
patch, its state, the end of its lease and whether a local copy exists.`,
		args: atLeastArgs("PATH"),
		setup: func(fl *pflag.FlagSet) runFunc {
			asJSON := fl.Bool("json", false, "print JSON (schema in the README)")
			return func(ctx context.Context, paths []string, stdout, _ io.Writer) error {
				return runInfo(ctx, paths, *asJSON, stdout)
			}
		},
	})
}

func runInfo(ctx context.Context, paths []string, asJSON bool, stdout io.Writer) error {
	var out []fileInfo
	for _, p := range paths {
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		mnt, err := findMountOf(abs)
		if err != nil {
			return err
		}
		c, err := findControl(mnt, "")
		if err != nil {
			return err
		}
		var fi fileInfo
		if err := c.get(ctx, "/v1/info?path="+url.QueryEscape(abs), &fi); err != nil {
			return err
		}
		out = append(out, fi)
	}
	if asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(out)
	}
	for _, fi := range out {
		line := fmt.Sprintf("%s: %s, %s", fi.Path, fi.State, humanSize(fi.Size))
		if fi.EndEpoch > 0 {
			line += fmt.Sprintf(", stored until epoch %d", fi.EndEpoch)
			if fi.EndDate != nil {
				line += " (" + fi.EndDate.Local().Format(time.DateOnly) + ")"
			}
		}
		fmt.Fprintln(stdout, line)
		for _, ch := range fi.Chunks {
			l := fmt.Sprintf("  chunk %d: %s", ch.Index, ch.State)
			if ch.ID != "" {
				l += " " + ch.ID
			}
			if ch.EndEpoch > 0 {
				l += fmt.Sprintf(", until epoch %d", ch.EndEpoch)
				if ch.EndDate != nil {
					l += " (" + ch.EndDate.Local().Format(time.DateOnly) + ")"
				}
			}
			if ch.LocalCopy {
				l += ", local copy"
			}
			fmt.Fprintln(stdout, l)
		}
	}
	return nil
}
