package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// module is the walrusfs module path; patterns starting with "./" are
// relative to it.
const module = "github.com/walrusfs/walrusfs"

// A pattern names packages in go list's notation: "p" is the package p
// alone, "p/..." is p and every package below it. So "./fs/filedata" does
// not name "./fs/filedata/blockcrypt", and "./fs/filedata/..." names both.
// "./x" is package x of this module; other paths are import paths as
// written (the standard library, third-party modules).
type pattern string

// match reports whether pattern p names package pkg.
func (p pattern) match(pkg string) bool {
	path := abs(string(p))
	if root, ok := strings.CutSuffix(path, "/..."); ok {
		return pkg == root || strings.HasPrefix(pkg, root+"/")
	}
	return pkg == path
}

// abs expands a "./" path to an import path of this module.
func abs(path string) string {
	if rest, ok := strings.CutPrefix(path, "./"); ok {
		return module + "/" + rest
	}
	return path
}

// own reports whether p names packages of this module.
func (p pattern) own() bool { return strings.HasPrefix(string(p), "./") }

func matchAny(ps []pattern, pkg string) bool {
	for _, p := range ps {
		if p.match(pkg) {
			return true
		}
	}
	return false
}

// Third-party packages the rules name.
const (
	goFUSE pattern = "github.com/hanwen/go-fuse/..."
	suiSDK pattern = "github.com/block-vision/sui-go-sdk/..."
	gRPC   pattern = "google.golang.org/grpc/..."
)

// concreteStores are the packages that implement blobstore.Store (or
// fake the network around one). Only cmd chooses among them.
var concreteStores = []pattern{
	"./blobstore/localstore/...",
	"./blobstore/walrushttp/...",
	"./blobstore/httpserver/...",
	"./blobstore/faultproxy/...",
	"./blobstore/storetest/...",
}

// An importRule forbids the packages in from (less those in except) to
// import the packages in forbid (less those in allow), or anything outside
// the standard library when stdOnly is set.
type importRule struct {
	// text is the rule as the README's "Import rules" section states it.
	text    string
	from    []pattern
	except  []pattern
	forbid  []pattern
	allow   []pattern
	stdOnly bool
}

// importRules are the allowed directions between the packages of walrusfs:
// the architecture, as a test. They bind the packages themselves; tests
// may import anything (the filesystem's end-to-end tests run the real
// stores).
var importRules = []importRule{
	{
		text:    "`blobstore` imports only the standard library.",
		from:    []pattern{"./blobstore"},
		stdOnly: true,
	},
	{
		text:    "`index/posixacl` imports only the standard library: the index and the filesystem both apply it.",
		from:    []pattern{"./index/posixacl"},
		stdOnly: true,
	},
	{
		text:   "`blobstore/...` never imports `index`, `fs/...`, `chainsync/...`, go-fuse or the Sui SDK.",
		from:   []pattern{"./blobstore/..."},
		forbid: []pattern{"./index/...", "./fs/...", "./chainsync/...", goFUSE, suiSDK},
	},
	{
		text:   "`index` imports none of `fs/...`, `blobstore/...`, `chainsync/...`, go-fuse or `net/http`: it stores references, not blobs.",
		from:   []pattern{"./index/..."},
		forbid: []pattern{"./fs/...", "./blobstore/...", "./chainsync/...", goFUSE, "net/http/..."},
	},
	{
		text: "`fs/...` uses stores only through `blobstore.Store`: it never imports a concrete store " +
			"(`blobstore/localstore`, `walrushttp`, `httpserver`, `faultproxy`, `storetest`), `chainsync/...` or the Sui SDK.",
		from:   []pattern{"./fs/..."},
		forbid: append([]pattern{"./chainsync/...", suiSDK}, concreteStores...),
	},
	{
		text:   "`fs/filedata/...` never imports go-fuse or `fs`: the file data engine works without a mount.",
		from:   []pattern{"./fs/filedata/..."},
		forbid: []pattern{goFUSE, "./fs"},
	},
	{
		text:   "`fs/fsck` never imports go-fuse or `fs`: a volume is checked the same mounted or not.",
		from:   []pattern{"./fs/fsck/..."},
		forbid: []pattern{goFUSE, "./fs"},
	},
	{
		text: "`fs/filedata/upload/...` imports neither `fs/filedata` nor `fs`; " +
			"its siblings `fs/filedata/blockcrypt` and `fs/filedata/blockcache` it may.",
		from:   []pattern{"./fs/filedata/upload/..."},
		forbid: []pattern{"./fs/filedata", "./fs"},
	},
	{
		text:   "`fs/filedata/blockcrypt` and `fs/filedata/blockcache` import no walrusfs package but `blobstore`, `blobstore/quilt` and `blobstore/costlru`.",
		from:   []pattern{"./fs/filedata/blockcrypt/...", "./fs/filedata/blockcache/..."},
		forbid: []pattern{"./..."},
		allow:  []pattern{"./blobstore", "./blobstore/quilt", "./blobstore/costlru"},
	},
	{
		text:   "`fs/snapshot` imports neither the file data engine (`fs/filedata`, whose flush it is handed) nor `fs` or go-fuse: a snapshot is the index and the store.",
		from:   []pattern{"./fs/snapshot/..."},
		forbid: []pattern{"./fs/filedata", "./fs/filedata/upload/...", "./fs/filedata/blockcache/...", "./fs", goFUSE},
	},
	{
		text:   "`chainsync/...` sees stores only through its `Ledger`: it never imports `fs/...`, go-fuse or a concrete store.",
		from:   []pattern{"./chainsync/..."},
		forbid: append([]pattern{"./fs/...", goFUSE}, concreteStores...),
	},
	{
		text:   "Only `chainsync/sui/...` imports the Sui SDK or gRPC: the rest of walrusfs sees the chain through `chainsync`'s interfaces.",
		from:   []pattern{"./..."},
		except: []pattern{"./chainsync/sui/..."},
		forbid: []pattern{suiSDK, gRPC},
	},
	{
		text:   "Nothing outside `cmd/...` imports it: only `cmd/walrusfs` chooses and wires implementations.",
		from:   []pattern{"./..."},
		except: []pattern{"./cmd/..."},
		forbid: []pattern{"./cmd/..."},
	},
}

// applies reports whether r binds package pkg.
func (r importRule) applies(pkg string) bool {
	return matchAny(r.from, pkg) && !matchAny(r.except, pkg)
}

// breaks reports whether a package r binds may not import imp; std
// reports whether a path is in the standard library.
func (r importRule) breaks(imp string, std func(string) bool) bool {
	if r.stdOnly && !std(imp) {
		return true
	}
	return matchAny(r.forbid, imp) && !matchAny(r.allow, imp)
}

// violations returns one message for every rule that package pkg breaks
// by importing one of imports.
func violations(pkg string, imports []string, std func(string) bool) []string {
	var out []string
	for _, r := range importRules {
		if !r.applies(pkg) {
			continue
		}
		for _, imp := range imports {
			if r.breaks(imp, std) {
				out = append(out, fmt.Sprintf("%s imports %s, against the rule: %s", pkg, imp, r.text))
			}
		}
	}
	return out
}

// TestImportRules fails when a package imports across a forbidden arrow,
// and when a rule has gone stale: it binds no package, or names a package
// of this module that does not exist (a rename the rules missed).
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	stdOut, err := exec.Command("go", "list", "std").Output()
	if err != nil {
		t.Fatalf("go list std: %v", err)
	}
	std := map[string]bool{}
	for _, p := range strings.Fields(string(stdOut)) {
		std[p] = true
	}
	isStd := func(p string) bool { return std[p] }

	var pkgs []string
	dec := json.NewDecoder(strings.NewReader(string(out)))
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
		pkgs = append(pkgs, p.ImportPath)
		for _, v := range violations(p.ImportPath, p.Imports, isStd) {
			t.Error(v)
		}
	}

	exists := func(p pattern) bool {
		for _, pkg := range pkgs {
			if p.match(pkg) {
				return true
			}
		}
		return false
	}
	for _, r := range importRules {
		bound := false
		for _, pkg := range pkgs {
			if r.applies(pkg) {
				bound = true
				break
			}
		}
		if !bound {
			t.Errorf("rule %q binds no package; the rules are stale", r.text)
		}
		for _, ps := range [][]pattern{r.from, r.except, r.forbid, r.allow} {
			for _, p := range ps {
				if p.own() && !exists(p) {
					t.Errorf("rule %q names %s, which is no package; the rules are stale", r.text, p)
				}
			}
		}
	}
}

func TestImportPatternMatch(t *testing.T) {
	for _, tc := range []struct {
		pattern pattern
		pkg     string
		want    bool
	}{
		{"./fs/filedata", module + "/fs/filedata", true},
		{"./fs/filedata", module + "/fs/filedata/blockcrypt", false},
		{"./fs/filedata", module + "/fs", false},
		{"./fs/filedata/...", module + "/fs/filedata", true},
		{"./fs/filedata/...", module + "/fs/filedata/upload", true},
		{"./fs/filedata/...", module + "/fs/filedatax", false},
		{"./fs/...", module + "/fs", true},
		{"./fs/...", module + "/fsck", false},
		{"./...", module, true},
		{"./...", module + "/cmd/walrusfs", true},
		{"./...", module + "x/fs", false},
		{"./fs", "fs", false},
		{"net/http", "net/http", true},
		{"net/http", "net/http/httptest", false},
		{"net/http/...", "net/http/httptest", true},
		{goFUSE, "github.com/hanwen/go-fuse/v2/fs", true},
		{goFUSE, "github.com/hanwen/go-fusex", false},
	} {
		if got := tc.pattern.match(tc.pkg); got != tc.want {
			t.Errorf("pattern %q matching %q = %v, want %v", tc.pattern, tc.pkg, got, tc.want)
		}
	}
}

// TestImportRulesTable checks what the table allows and forbids at its
// edges, so a rule that says less than its text fails here and not only
// when someone crosses it.
func TestImportRulesTable(t *testing.T) {
	std := func(p string) bool { return !strings.Contains(strings.Split(p, "/")[0], ".") }
	for _, tc := range []struct {
		pkg, imp string
		allowed  bool
	}{
		{"./blobstore", "io", true},
		{"./blobstore", "golang.org/x/crypto/blake2b", false},
		{"./blobstore/localstore", "./blobstore/rs2", true},
		{"./blobstore/walrushttp", "./fs/filedata/blockcache", false},
		{"./blobstore/rs2", "./chainsync", false},
		{"./index", "./blobstore", false},
		{"./index", "net/http/httptest", false},
		{"./index", "go.etcd.io/bbolt", true},
		{"./fs", "./blobstore/quilt", true},
		{"./fs", "./blobstore/walrushttp/wire", false},
		{"./fs", "./blobstore/storetest", false},
		{"./fs", "github.com/hanwen/go-fuse/v2/fs", true},
		{"./fs/filedata", "./fs/filedata/blockcache", true},
		{"./fs/filedata", "./fs", false},
		{"./fs/filedata", "github.com/hanwen/go-fuse/v2/fuse", false},
		{"./fs/filedata", "./blobstore/localstore", false},
		{"./fs/filedata/upload", "./fs/filedata/blockcrypt", true},
		{"./fs/filedata/upload", "./fs/filedata", false},
		{"./fs/filedata/upload", "./fs", false},
		{"./fs/filedata/upload", "./index", true},
		{"./fs/filedata/blockcrypt", "./blobstore/quilt", true},
		{"./fs/filedata/blockcrypt", "./blobstore/rs2", false},
		{"./fs/filedata/blockcache", "./index", false},
		{"./fs/filedata/blockcache", "github.com/dgraph-io/ristretto/v2", true},
		{"./chainsync", "./index", true},
		{"./chainsync", "./blobstore/localstore", false},
		{"./chainsync/sui", "github.com/block-vision/sui-go-sdk/signer", true},
		{"./cmd/walrusfs", "github.com/block-vision/sui-go-sdk/signer", false},
		{"./cmd/walrusfs", "./blobstore/localstore", true},
		{"./cmd/walrusfs", "./cmd/walrusfs/internal/flags", true},
		{"./scripts/bench", "./cmd/walrusfs", false},
	} {
		pkg, imp := abs(tc.pkg), abs(tc.imp)
		v := violations(pkg, []string{imp}, std)
		if allowed := len(v) == 0; allowed != tc.allowed {
			t.Errorf("%s importing %s: allowed = %v, want %v %q", tc.pkg, tc.imp, allowed, tc.allowed, v)
		}
	}
}
