package blockcrypt

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "key")
	k, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first LoadOrCreateKey: created=%v, %v", created, err)
	}
	if k == (Key{}) {
		t.Fatal("created an all-zero key")
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != 0o600 {
		t.Fatalf("key file mode %v, want -rw-------", fi.Mode())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("walrusfs-key-v1\n%x\n", k[:]); string(data) != want {
		t.Fatalf("key file holds %q, want the header and the key in lowercase hex", data)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Fatalf("directory holds %d entries after creating the key, want only the key file", len(entries))
	}

	again, created, err := LoadOrCreateKey(path)
	if err != nil || created || again != k {
		t.Fatalf("second LoadOrCreateKey: created=%v, equal=%v, %v", created, again == k, err)
	}

	other, _, err := LoadOrCreateKey(filepath.Join(dir, "other"))
	if err != nil || other == k {
		t.Fatalf("a second key file: equal=%v, %v", other == k, err)
	}
}

// TestLoadOrCreateKeyConcurrent starts many creators at once: exactly one
// creates the file and all get its key.
func TestLoadOrCreateKeyConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "key")
	const n = 16
	keys := make([]Key, n)
	created := make([]bool, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], created[i], errs[i] = LoadOrCreateKey(path) })
	}
	wg.Wait()
	creators := 0
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if keys[i] != keys[0] {
			t.Fatal("creators got different keys")
		}
		if created[i] {
			creators++
		}
	}
	if creators != 1 {
		t.Fatalf("%d callers report creating the key, want 1", creators)
	}
}

// writeKeyFile writes content to a new key file with the given mode.
func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
	return path
}

const testKeyHex = "00112233445566778899aabbccddeeff0123456789abcdeffedcba9876543210"

func TestLoadKeyRefusesLoosePermissions(t *testing.T) {
	for _, mode := range []os.FileMode{0o640, 0o604, 0o660, 0o602, 0o620, 0o644, 0o666, 0o700 | 0o001} {
		t.Run(fmt.Sprintf("%#o", mode), func(t *testing.T) {
			path := writeKeyFile(t, "walrusfs-key-v1\n"+testKeyHex+"\n", mode)
			k, created, err := LoadOrCreateKey(path)
			if err == nil {
				t.Fatalf("loaded a key file with mode %#o", mode)
			}
			if created || k != (Key{}) {
				t.Fatal("refusal returned a key")
			}
			if !strings.Contains(err.Error(), "chmod 600 "+path) {
				t.Fatalf("error %q does not say chmod 600 %s", err, path)
			}
			if strings.Contains(err.Error(), testKeyHex[:8]) {
				t.Fatalf("error %q shows key material", err)
			}
		})
	}
}

func TestLoadKeyAccepts(t *testing.T) {
	tests := []struct{ name, content string }{
		{"canonical", "walrusfs-key-v1\n" + testKeyHex + "\n"},
		{"no final newline", "walrusfs-key-v1\n" + testKeyHex},
		{"CRLF", "walrusfs-key-v1\r\n" + testKeyHex + "\r\n"},
		{"upper case", "walrusfs-key-v1\n" + strings.ToUpper(testKeyHex) + "\n"},
		{"trailing blank lines and spaces", "walrusfs-key-v1\n  " + testKeyHex + " \n\n\n"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeKeyFile(t, tc.content, 0o600)
			k, created, err := LoadOrCreateKey(path)
			if err != nil || created {
				t.Fatalf("created=%v, %v", created, err)
			}
			if got := fmt.Sprintf("%x", k[:]); got != testKeyHex {
				t.Fatalf("loaded %s, want %s", got, testKeyHex)
			}
		})
	}
}

func TestLoadKeyRefusesMalformed(t *testing.T) {
	// secret stands for key material; no error may show any of it.
	const secret = "5ec12e7a5ec12e7a5ec12e7a5ec12e7a5ec12e7a5ec12e7a5ec12e7a5ec12e7a"
	tests := []struct{ name, content string }{
		{"empty", ""},
		{"no header", secret + "\n"},
		{"wrong header", "walrusfs-key-v2\n" + secret + "\n"},
		{"header only", "walrusfs-key-v1\n"},
		{"short key", "walrusfs-key-v1\n" + secret[:62] + "\n"},
		{"long key", "walrusfs-key-v1\n" + secret + "00\n"},
		{"not hex", "walrusfs-key-v1\n" + secret[:63] + "g\n"},
		{"not hex at the start", "walrusfs-key-v1\nZ" + secret[1:] + "\n"},
		{"extra line", "walrusfs-key-v1\n" + secret + "\n" + secret + "\n"},
		{"key split over lines", "walrusfs-key-v1\n" + secret[:32] + "\n" + secret[32:] + "\n"},
		{"huge", "walrusfs-key-v1\n" + secret + "\n" + strings.Repeat(" ", maxKeyFileSize)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := writeKeyFile(t, tc.content, 0o600)
			k, created, err := LoadOrCreateKey(path)
			if err == nil {
				t.Fatalf("loaded a malformed key file")
			}
			if created || k != (Key{}) {
				t.Fatal("refusal returned a key")
			}
			if !strings.Contains(err.Error(), path) {
				t.Fatalf("error %q does not name the file", err)
			}
			for i := 0; i+6 <= len(secret); i++ {
				if strings.Contains(err.Error(), secret[i:i+6]) {
					t.Fatalf("error %q shows key file content", err)
				}
			}
			if data, _ := os.ReadFile(path); string(data) != tc.content {
				t.Fatal("refusal changed the key file")
			}
		})
	}
}

func TestLoadOrCreateKeyBadPlaces(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(dir, "sub")
	if err := os.Mkdir(sub, 0o700); err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, path string }{
		{"parent is a file", filepath.Join(file, "key")},
		{"missing directory", filepath.Join(dir, "missing", "key")},
		{"path is a directory", sub},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, created, err := LoadOrCreateKey(tc.path); err == nil || created {
				t.Fatalf("LoadOrCreateKey(%s): created=%v, %v; want an error", tc.path, created, err)
			}
		})
	}
}

// TestLoadOrCreateKeyUnreadableDirectory needs a user that permissions
// stop: root reads and writes anything.
func TestLoadOrCreateKeyUnreadableDirectory(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root is not stopped by directory permissions")
	}
	dir := filepath.Join(t.TempDir(), "locked")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "key")
	if _, _, err := LoadOrCreateKey(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chmod(dir, 0o700) })
	if _, _, err := LoadOrCreateKey(path); !errors.Is(err, fs.ErrPermission) {
		t.Fatalf("LoadOrCreateKey in a locked directory = %v, want a permission error", err)
	}
}

func TestKeyRedacted(t *testing.T) {
	var k Key
	for i := range k {
		k[i] = 0xab
	}
	leaks := func(out string) bool {
		return strings.Contains(strings.ToLower(out), "abab") || strings.Contains(out, "171") || strings.Contains(out, "q6vr")
	}
	for _, verb := range []string{"%v", "%s", "%x", "%X", "%q", "%#v", "%+v", "%d", "%o", "%b"} {
		if out := fmt.Sprintf(verb, k); leaks(out) {
			t.Errorf("%s prints key material: %s", verb, out)
		}
	}
	if out := fmt.Sprintf("%v %+v", struct{ K Key }{k}, &k); leaks(out) {
		t.Errorf("a key inside a value prints: %s", out)
	}
	if out, err := json.Marshal(struct{ K Key }{k}); err == nil || leaks(string(out)) {
		t.Errorf("json.Marshal of a key = %s, %v; want an error", out, err)
	}
	// The time is dropped: its digits could contain "171" (0xab in decimal).
	noTime := &slog.HandlerOptions{ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, noTime)).Info("key", "k", k)
	slog.New(slog.NewTextHandler(&buf, noTime)).Info("key", "k", k)
	if leaks(buf.String()) {
		t.Errorf("slog prints key material: %s", buf.String())
	}
}

// TestFingerprint: a fingerprint is fixed by the key (values computed
// independently), differs between keys and shows none of the key.
func TestFingerprint(t *testing.T) {
	var a, b Key
	for i := range a {
		a[i], b[i] = byte(i), 0xff
	}
	for _, tc := range []struct {
		k    Key
		want string
	}{{a, "efdffec2-3d4ce4e3"}, {b, "72239042-e78358dd"}} {
		if got := tc.k.Fingerprint(); got != tc.want {
			t.Errorf("fingerprint %q, want %q", got, tc.want)
		}
		if hexKey := hex.EncodeToString(tc.k[:]); strings.Contains(hexKey, strings.ReplaceAll(tc.k.Fingerprint(), "-", "")) {
			t.Errorf("fingerprint %q appears in the key", tc.k.Fingerprint())
		}
	}
	groups, file := a.Printable()
	if !strings.HasPrefix(groups, "0001 0203 0405") || len(strings.Fields(groups)) != 16 {
		t.Errorf("printable groups %q", groups)
	}
	k, err := parseKey([]byte(file))
	if err != nil || k != a {
		t.Errorf("the printed key file does not parse back to the key: %v", err)
	}
}
