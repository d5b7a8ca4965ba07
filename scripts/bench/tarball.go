package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// sourceTree is an uncompressed tar of the Go distribution's src/
// directory: about 13,000 real files of every size, the shape of a source
// checkout. It is built once per Go version and kept in the work directory.
type sourceTree struct {
	path  string    // the .tar
	top   string    // the directory the archive extracts to
	stats treeStats // what extracting it must produce
}

// treeStats summarises a directory tree so an extraction can be checked.
type treeStats struct {
	Dirs     int   `json:"dirs"`
	Files    int   `json:"files"`
	Symlinks int   `json:"symlinks"`
	Bytes    int64 `json:"bytes"` // sum of regular file sizes
}

func (t treeStats) String() string {
	return fmt.Sprintf("%d dirs, %d files, %d symlinks, %d bytes", t.Dirs, t.Files, t.Symlinks, t.Bytes)
}

func (t *sourceTree) summary() string {
	if t == nil {
		return "not prepared"
	}
	return fmt.Sprintf("%d files, %s", t.stats.Files, sizeString(t.stats.Bytes))
}

func countTree(root string) (treeStats, error) {
	var t treeStats
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			t.Dirs++
		case d.Type()&fs.ModeSymlink != 0:
			t.Symlinks++
		case d.Type().IsRegular():
			info, err := d.Info()
			if err != nil {
				return err
			}
			t.Files++
			t.Bytes += info.Size()
		}
		return nil
	})
	return t, err
}

// prepareSourceTree returns the tar of $(go env GOROOT)/src in workdir,
// creating it if needed.
func prepareSourceTree(ctx context.Context, workdir string) (*sourceTree, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOROOT", "GOVERSION").Output()
	if err != nil {
		return nil, fmt.Errorf("go env GOROOT GOVERSION: %w", err)
	}
	f := strings.Fields(string(out))
	if len(f) != 2 {
		return nil, fmt.Errorf("go env GOROOT GOVERSION printed %q", out)
	}
	goroot, version := f[0], f[1]
	t := &sourceTree{
		path: filepath.Join(workdir, version+"-src.tar"),
		top:  "src",
	}
	statsPath := t.path + ".json"
	if b, err := os.ReadFile(statsPath); err == nil {
		if _, err := os.Stat(t.path); err == nil && json.Unmarshal(b, &t.stats) == nil {
			return t, nil
		}
	}

	src := filepath.Join(goroot, "src")
	t.stats, err = countTree(src)
	if err != nil {
		return nil, fmt.Errorf("counting %s: %w", src, err)
	}
	tmp := t.path + ".tmp"
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, "tar", "-c", "-f", tmp, "-C", goroot, "src")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		_ = os.Remove(tmp)
		return nil, fmt.Errorf("tar of %s: %w: %s", src, err, bytes.TrimSpace(stderr.Bytes()))
	}
	if err := os.Rename(tmp, t.path); err != nil {
		return nil, err
	}
	b, _ := json.Marshal(t.stats)
	if err := os.WriteFile(statsPath, b, 0o644); err != nil {
		return nil, err
	}
	return t, nil
}
