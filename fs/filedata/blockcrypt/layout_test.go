package blockcrypt

import (
	"errors"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

func TestLayoutValidate(t *testing.T) {
	tests := []struct {
		name string
		l    Layout
		ok   bool
	}{
		{"zero", Layout{}, false},
		{"negative", Layout{BlockSize: -1, Encrypted: true}, false},
		{"one byte", Layout{BlockSize: 1}, true},
		{"1 MiB encrypted", Layout{BlockSize: 1 << 20, Encrypted: true}, true},
		{"largest", Layout{BlockSize: MaxBlockSize}, true},
		{"too large", Layout{BlockSize: MaxBlockSize + 1}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Validate()
			if tc.ok != (err == nil) {
				t.Fatalf("Validate() = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Fatalf("Validate() = %v, want ErrInvalidArgument", err)
			}
		})
	}
}

func TestLayoutArithmetic(t *testing.T) {
	tests := []struct {
		name      string
		l         Layout
		plainLen  int64
		blocks    int
		storedLen int64
		lastPlain int
	}{
		{"empty", Layout{BlockSize: 10}, 0, 0, 0, 0},
		{"empty encrypted", Layout{BlockSize: 10, Encrypted: true}, 0, 0, 0, 0},
		{"one byte", Layout{BlockSize: 10}, 1, 1, 1, 1},
		{"one byte encrypted", Layout{BlockSize: 10, Encrypted: true}, 1, 1, 41, 1},
		{"one short of a block", Layout{BlockSize: 10, Encrypted: true}, 9, 1, 49, 9},
		{"exactly one block", Layout{BlockSize: 10, Encrypted: true}, 10, 1, 50, 10},
		{"one over a block", Layout{BlockSize: 10, Encrypted: true}, 11, 2, 91, 1},
		{"8 MiB+3 in 1 MiB blocks", Layout{BlockSize: 1 << 20, Encrypted: true}, 8<<20 + 3, 9, 8<<20 + 3 + 9*40, 3},
		{"8 MiB+3 in the clear", Layout{BlockSize: 1 << 20}, 8<<20 + 3, 9, 8<<20 + 3, 3},
		{"one-byte blocks", Layout{BlockSize: 1, Encrypted: true}, 5, 5, 5 * 41, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := tc.l
			if got := l.Blocks(tc.plainLen); got != tc.blocks {
				t.Fatalf("Blocks(%d) = %d, want %d", tc.plainLen, got, tc.blocks)
			}
			if got := l.StoredLen(tc.plainLen); got != tc.storedLen {
				t.Fatalf("StoredLen(%d) = %d, want %d", tc.plainLen, got, tc.storedLen)
			}
			if got, err := l.PlainLen(tc.storedLen, tc.blocks); err != nil || got != tc.plainLen {
				t.Fatalf("PlainLen(%d, %d) = %d, %v, want %d", tc.storedLen, tc.blocks, got, err, tc.plainLen)
			}
			checkBlocks(t, l, tc.plainLen)
			if tc.blocks > 0 {
				_, n, plainN := l.StoredBlock(tc.plainLen, tc.blocks-1)
				if plainN != tc.lastPlain || n != tc.lastPlain+l.Overhead() {
					t.Fatalf("last block: n=%d plainN=%d, want plainN=%d", n, plainN, tc.lastPlain)
				}
			}
		})
	}
}

// checkBlocks checks that the stored blocks of a chunk of plainLen bytes
// tile [0, StoredLen) in order, that their plaintexts tile [0, plainLen),
// and that BlockOf maps each block's first and last plaintext byte to it.
func checkBlocks(t *testing.T, l Layout, plainLen int64) {
	t.Helper()
	var off, plainOff int64
	for i := range l.Blocks(plainLen) {
		so, n, plainN := l.StoredBlock(plainLen, i)
		if so != off {
			t.Fatalf("block %d at stored offset %d, want %d", i, so, off)
		}
		if plainN < 1 || plainN > l.BlockSize || n != plainN+l.Overhead() {
			t.Fatalf("block %d: n=%d plainN=%d with block size %d", i, n, plainN, l.BlockSize)
		}
		if i+1 < l.Blocks(plainLen) && plainN != l.BlockSize {
			t.Fatalf("block %d of %d holds %d bytes, want a full block", i, l.Blocks(plainLen), plainN)
		}
		if b := l.BlockOf(plainOff); b != i {
			t.Fatalf("BlockOf(%d) = %d, want %d", plainOff, b, i)
		}
		if b := l.BlockOf(plainOff + int64(plainN) - 1); b != i {
			t.Fatalf("BlockOf(%d) = %d, want %d", plainOff+int64(plainN)-1, b, i)
		}
		off += int64(n)
		plainOff += int64(plainN)
	}
	if off != l.StoredLen(plainLen) || plainOff != plainLen {
		t.Fatalf("blocks cover %d stored / %d plain bytes, want %d / %d", off, plainOff, l.StoredLen(plainLen), plainLen)
	}
}

func TestPlainLenRejects(t *testing.T) {
	enc := Layout{BlockSize: 10, Encrypted: true}
	clear := Layout{BlockSize: 10}
	tests := []struct {
		name      string
		l         Layout
		storedLen int64
		blocks    int
	}{
		{"negative length", enc, -1, 0},
		{"negative blocks", enc, 50, -1},
		{"bytes without blocks", enc, 5, 0},
		{"block without bytes", clear, 0, 1},
		{"block shorter than overhead", enc, 40, 1},
		{"too many bytes for one block", enc, 51, 1},
		{"too few bytes for two blocks", enc, 90, 2},
		{"too many bytes for two blocks in the clear", clear, 21, 2},
		{"absurd block count", enc, 1 << 62, 1 << 61},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.l.PlainLen(tc.storedLen, tc.blocks)
			if !errors.Is(err, blobstore.ErrInvalidArgument) {
				t.Fatalf("PlainLen(%d, %d) = %d, %v, want ErrInvalidArgument", tc.storedLen, tc.blocks, got, err)
			}
		})
	}
}

func TestStoredBlockOutOfRangePanics(t *testing.T) {
	l := Layout{BlockSize: 10, Encrypted: true}
	for _, i := range []int{-1, 2, 3} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("StoredBlock(15, %d) did not panic", i)
				}
			}()
			l.StoredBlock(15, i)
		}()
	}
}
