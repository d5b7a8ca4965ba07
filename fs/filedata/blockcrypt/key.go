package blockcrypt

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the length of a key in bytes.
const KeySize = 32

// Key is the secret that seals blocks and names: 32 random bytes. It does
// not give its bytes away by accident: fmt prints a placeholder for every
// verb and MarshalText fails, so a key that slips into a log line or a JSON
// document shows no key material. Use k[:] for the bytes.
type Key [KeySize]byte

const redactedKey = "blockcrypt.Key(redacted)"

// String returns a placeholder, never the key.
func (Key) String() string { return redactedKey }

// Format implements fmt.Formatter: every verb prints a placeholder.
func (Key) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redactedKey) }

// MarshalText always fails: a key is kept only in its key file.
func (Key) MarshalText() ([]byte, error) {
	return nil, errors.New("blockcrypt: a key is not marshaled; it is kept only in its key file")
}

const (
	// keyFileHeader is the first line of a key file.
	keyFileHeader = "walrusfs-key-v1"
	// maxKeyFileSize bounds what LoadOrCreateKey reads: a key file is 81
	// bytes, and some room is left for stray whitespace.
	maxKeyFileSize = 4096
)

// LoadOrCreateKey returns the key kept in the key file at path, creating
// the file with a fresh random key when there is none; created reports
// whether it did. The file is text so it can be printed and backed up:
//
//	walrusfs-key-v1
//	<the key as 64 hexadecimal digits>
//
// each line ending in a newline (trailing whitespace and CRLF line ends are
// tolerated when reading).
//
// A new file appears at path complete or not at all: the key is written to
// a temporary file beside it (mode 0600, created with O_EXCL) and synced,
// then linked to path, which fails rather than replace a file created in
// the meantime (LoadOrCreateKey then loads that one), and finally the
// directory is synced. The directory must exist and its file system must
// support hard links.
//
// LoadOrCreateKey refuses a key file that group or others may read or
// write (the error says to run chmod 600 on it), anything but a regular
// file, and malformed content. Its errors never contain key material or
// any of the file's content.
func LoadOrCreateKey(path string) (k Key, created bool, err error) {
	// Two rounds at most: the second runs only when another process created
	// the file between our load and our create.
	for round := 0; ; round++ {
		k, err = loadKey(path)
		if !errors.Is(err, fs.ErrNotExist) {
			return k, false, err
		}
		k, err = createKey(path)
		if err == nil {
			return k, true, nil
		}
		if !errors.Is(err, fs.ErrExist) || round > 0 {
			return Key{}, false, err
		}
	}
}

// LoadKey returns the key kept in the key file at path, refusing the
// files LoadOrCreateKey refuses. A missing file gives an error satisfying
// errors.Is(err, fs.ErrNotExist).
func LoadKey(path string) (Key, error) { return loadKey(path) }

// CreateKey makes a key file at path holding a fresh random key, as
// LoadOrCreateKey does; it fails with an error wrapping fs.ErrExist if a
// file is there already.
func CreateKey(path string) (Key, error) { return createKey(path) }

// Fingerprint names the key without revealing it: the first 8 bytes of a
// SHA-256 of the key under a label, in hex, as two groups of eight digits.
// The index records it to know which key the volume's data needs.
func (k *Key) Fingerprint() string {
	h := sha256.New()
	h.Write([]byte("walrusfs volume key fingerprint\x00"))
	h.Write(k[:])
	sum := hex.EncodeToString(h.Sum(nil)[:8])
	return sum[:8] + "-" + sum[8:]
}

// Printable returns the key for a person to write down or print: its 64
// hexadecimal digits in groups of four, and the key file's content, which
// is what restoring the key takes.
func (k *Key) Printable() (groups string, keyFile string) {
	digits := hex.EncodeToString(k[:])
	var b strings.Builder
	for i := 0; i < len(digits); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(digits[i : i+4])
	}
	return b.String(), string(formatKey(k))
}

func loadKey(path string) (Key, error) {
	f, err := os.Open(path)
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: key file: %w", err)
	}
	// Read-only: closing cannot lose data.
	defer func() { _ = f.Close() }()
	fi, err := f.Stat()
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return Key{}, fmt.Errorf("blockcrypt: key file %s is not a regular file (%v)", path, fi.Mode().Type())
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return Key{}, fmt.Errorf("blockcrypt: key file %s has mode %#o: group or others may read or write the encryption key; run chmod 600 %s", path, perm, path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: key file: %w", err)
	}
	k, err := parseKey(data)
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: key file %s: %w", path, err)
	}
	return k, nil
}

// parseKey decodes a key file's content. Its errors are fixed strings: they
// must not carry any of data.
func parseKey(data []byte) (Key, error) {
	var k Key
	if len(data) > maxKeyFileSize {
		return k, errors.New("longer than a key file can be")
	}
	lines := strings.Split(strings.TrimRight(string(data), " \t\r\n"), "\n")
	if strings.TrimRight(lines[0], "\r") != keyFileHeader {
		return k, errors.New("first line is not " + keyFileHeader + " (not a walrusfs key file, or from a newer version)")
	}
	if len(lines) != 2 {
		return k, errors.New("want two lines: " + keyFileHeader + " and the key")
	}
	line := strings.TrimSpace(lines[1])
	if len(line) != 2*KeySize {
		return k, fmt.Errorf("second line is not %d hexadecimal digits", 2*KeySize)
	}
	// hex's errors quote the offending byte; report none of it.
	if _, err := hex.Decode(k[:], []byte(line)); err != nil {
		return Key{}, fmt.Errorf("second line is not %d hexadecimal digits", 2*KeySize)
	}
	return k, nil
}

// formatKey returns the content of a key file holding k.
func formatKey(k *Key) []byte {
	b := make([]byte, 0, len(keyFileHeader)+1+2*KeySize+1)
	b = append(b, keyFileHeader+"\n"...)
	b = hex.AppendEncode(b, k[:])
	return append(b, '\n')
}

// createKey makes a key file at path holding a fresh key. It fails with an
// error wrapping fs.ErrExist if path appeared meanwhile.
func createKey(path string) (Key, error) {
	var k Key
	fillRandom(k[:])
	dir := filepath.Dir(path)
	// os.CreateTemp opens with O_CREATE|O_EXCL and mode 0600.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".new-*")
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: create key file %s: %w", path, err)
	}
	tmp := f.Name()
	err = writeSynced(f, formatKey(&k))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp, path)
	}
	// The temporary name goes either way; after a link, path names the file.
	if rerr := os.Remove(tmp); err == nil {
		err = rerr
	}
	if err == nil {
		err = syncDir(dir)
	}
	if err != nil {
		return Key{}, fmt.Errorf("blockcrypt: create key file %s: %w", path, err)
	}
	return k, nil
}

// writeSynced writes b to f with owner-only permissions, whatever the
// umask, and syncs it to stable storage.
func writeSynced(f *os.File, b []byte) error {
	if err := f.Chmod(0o600); err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		return err
	}
	return f.Sync()
}

// syncDir makes the entries of dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	if err := d.Sync(); err != nil {
		_ = d.Close()
		return err
	}
	return d.Close()
}
