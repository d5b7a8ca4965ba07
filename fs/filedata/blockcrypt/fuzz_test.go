package blockcrypt

import (
	"bytes"
	"errors"
	"slices"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
)

// FuzzOpenBlock feeds arbitrary stored bytes to OpenBlock, once with the
// recorded hash of a real block and once with their own hash, so the
// length and tag checks are reached too. It must never panic, fail only
// with ErrIntegrity, and, encrypted, accept only the genuine block.
func FuzzOpenBlock(f *testing.F) {
	enc := newTestCodec(f, 64, true)
	clear := newTestCodec(f, 64, false)
	// Fuzzing runs this setup again in every worker process, so the genuine
	// blocks use fixed nonces rather than SealBlock's random ones.
	var genuine [][]byte
	for i, plain := range [][]byte{[]byte("genuine block"), nil, make([]byte, 64)} {
		nonce := make([]byte, NonceSize)
		nonce[0] = byte(i)
		genuine = append(genuine, enc.aead.Seal(nonce, nonce, plain, blockAD))
		f.Add(genuine[i])
	}
	f.Add([]byte{})
	f.Add(make([]byte, EncryptedOverhead))
	f.Fuzz(func(t *testing.T, stored []byte) {
		for _, want := range [][HashSize]byte{BlockHash(genuine[0]), BlockHash(stored)} {
			got, err := enc.OpenBlock(nil, stored, want)
			switch {
			case err != nil && (!errors.Is(err, blobstore.ErrIntegrity) || got != nil):
				t.Fatalf("OpenBlock = %d bytes, %v; want nil and ErrIntegrity", len(got), err)
			case err == nil && !slices.ContainsFunc(genuine, func(g []byte) bool { return bytes.Equal(g, stored) }):
				t.Fatalf("OpenBlock accepted %d forged bytes", len(stored))
			case err == nil && len(got) != len(stored)-EncryptedOverhead:
				t.Fatalf("OpenBlock of %d stored bytes gave %d", len(stored), len(got))
			}
			got, err = clear.OpenBlock(nil, stored, want)
			switch {
			case err != nil && !errors.Is(err, blobstore.ErrIntegrity):
				t.Fatalf("OpenBlock in the clear = %v", err)
			case err == nil && !bytes.Equal(got, stored):
				t.Fatal("OpenBlock in the clear changed the bytes")
			case err == nil && (BlockHash(stored) != want || len(stored) > 64):
				t.Fatal("OpenBlock in the clear accepted unchecked bytes")
			}
		}
	})
}

// FuzzOpenName feeds arbitrary identifiers to OpenName: it must never
// panic, fail only with ErrIntegrity (ErrInvalidArgument in the clear), and
// whatever it accepts must be a valid name that seals again.
func FuzzOpenName(f *testing.F) {
	enc := newTestCodec(f, 64, true)
	clear := newTestCodec(f, 64, false)
	for _, name := range []string{"a", "chunk-1", "a b/é😀.txt"} {
		id, err := enc.SealName(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(id)
	}
	f.Add("")
	f.Add("x")
	f.Add("_x")
	f.Add("x====")
	f.Fuzz(func(t *testing.T, id string) {
		for _, c := range []*Codec{enc, clear} {
			name, err := c.OpenName(id)
			if err != nil {
				want := blobstore.ErrIntegrity
				if c == clear {
					want = blobstore.ErrInvalidArgument
				}
				if !errors.Is(err, want) || name != "" {
					t.Fatalf("OpenName = %q, %v; want %v", name, err, want)
				}
				continue
			}
			if err := quilt.ValidateIdentifier(name); err != nil {
				t.Fatalf("OpenName accepted an invalid name: %v", err)
			}
			if _, err := c.SealName(name); err != nil {
				t.Fatalf("OpenName returned %q, which does not seal: %v", name, err)
			}
		}
	})
}

// FuzzParseKey feeds arbitrary key file content to the parser: it must
// never panic, and a key it accepts must survive a write and a read.
func FuzzParseKey(f *testing.F) {
	f.Add([]byte("walrusfs-key-v1\n" + testKeyHex + "\n"))
	f.Add([]byte("walrusfs-key-v1\r\n" + testKeyHex))
	f.Add([]byte("walrusfs-key-v1\n"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := parseKey(data)
		if err != nil {
			if k != (Key{}) {
				t.Fatal("parseKey returned a key with an error")
			}
			return
		}
		again, err := parseKey(formatKey(&k))
		if err != nil || again != k {
			t.Fatalf("a written key reads back as %v, %v", again == k, err)
		}
	})
}

// FuzzLayout checks the layout arithmetic for arbitrary geometry: blocks
// tile the chunk, and PlainLen inverts StoredLen.
func FuzzLayout(f *testing.F) {
	f.Add(16, true, int64(0))
	f.Add(16, false, int64(33))
	f.Add(1<<20, true, int64(8<<20+3))
	f.Add(1, true, int64(100))
	f.Fuzz(func(t *testing.T, bs int, enc bool, plainLen int64) {
		l := Layout{BlockSize: bs, Encrypted: enc}
		if l.Validate() != nil || plainLen < 0 || plainLen > 1<<40 {
			return
		}
		if l.Blocks(plainLen) > 1<<12 {
			plainLen = int64(bs) * (1 << 12)
		}
		checkBlocks(t, l, plainLen)
		got, err := l.PlainLen(l.StoredLen(plainLen), l.Blocks(plainLen))
		if err != nil || got != plainLen {
			t.Fatalf("PlainLen(StoredLen(%d)) = %d, %v", plainLen, got, err)
		}
		for _, d := range []int64{-1, 1} {
			if p, err := l.PlainLen(l.StoredLen(plainLen)+d, l.Blocks(plainLen)); err == nil && l.StoredLen(p) != l.StoredLen(plainLen)+d {
				t.Fatalf("PlainLen accepted an inconsistent length: %d", p)
			}
		}
	})
}
