package main

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// importRules are the allowed directions between walrusfs packages (see the
// README's architecture section). Each rule forbids a package (or a prefix
// of packages) from importing any of the listed prefixes.
var importRules = []struct {
	pkg       string // a package path, or a prefix ending in "/"
	forbidden []string
	stdOnly   bool // the vocabulary package: standard library only
}{
	{pkg: "github.com/walrusfs/walrusfs/blobstore", stdOnly: true},
	{pkg: "github.com/walrusfs/walrusfs/blobstore/", forbidden: []string{
		"github.com/walrusfs/walrusfs/index", "github.com/walrusfs/walrusfs/fs",
		"github.com/walrusfs/walrusfs/chainsync", "github.com/block-vision/sui-go-sdk",
	}},
	{pkg: "github.com/walrusfs/walrusfs/index", forbidden: []string{
		"github.com/walrusfs/walrusfs/fs", "github.com/walrusfs/walrusfs/blobstore/",
		"github.com/walrusfs/walrusfs/chainsync", "github.com/hanwen/go-fuse", "net/http",
	}},
	{pkg: "github.com/walrusfs/walrusfs/fs", forbidden: []string{
		// fs works through the blobstore.Store interface; only cmd picks
		// concrete stores.
		"github.com/walrusfs/walrusfs/blobstore/localstore", "github.com/walrusfs/walrusfs/blobstore/walrushttp",
		"github.com/walrusfs/walrusfs/blobstore/httpserver", "github.com/walrusfs/walrusfs/chainsync/",
		"github.com/block-vision/sui-go-sdk",
	}},
	{pkg: "github.com/walrusfs/walrusfs/chainsync", forbidden: []string{
		// chainsync sees stores through its Ledger; cmd wires them.
		"github.com/walrusfs/walrusfs/fs", "github.com/hanwen/go-fuse",
		"github.com/walrusfs/walrusfs/blobstore/localstore", "github.com/walrusfs/walrusfs/blobstore/walrushttp",
		"github.com/walrusfs/walrusfs/blobstore/httpserver",
	}},
}

// TestImportRules fails when a package imports across a forbidden arrow.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports,Standard", "github.com/walrusfs/walrusfs/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	std := map[string]bool{}
	stdOut, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	for _, p := range strings.Fields(string(stdOut)) {
		std[p] = true
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	checked := 0
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		for _, r := range importRules {
			applies := p.ImportPath == r.pkg || (strings.HasSuffix(r.pkg, "/") && strings.HasPrefix(p.ImportPath, r.pkg))
			if !applies {
				continue
			}
			checked++
			for _, imp := range p.Imports {
				if r.stdOnly && !std[imp] {
					t.Errorf("%s imports %s: it may import only the standard library", p.ImportPath, imp)
				}
				for _, f := range r.forbidden {
					if imp == strings.TrimSuffix(f, "/") || strings.HasPrefix(imp, f) {
						t.Errorf("%s imports %s, which its layer must not", p.ImportPath, imp)
					}
				}
			}
		}
	}
	if checked < 3 {
		t.Fatalf("only %d packages matched the rules; the rules are stale", checked)
	}
}
