package blockcrypt

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/walrusfs/walrusfs/blobstore"
)

// testKey returns a fixed key that differs for each seed.
func testKey(seed byte) *Key {
	var k Key
	for i := range k {
		k[i] = seed + byte(i)*7
	}
	return &k
}

// newTestCodec returns a codec with block size bs, encrypted under
// testKey(1) when enc is set.
func newTestCodec(t testing.TB, bs int, enc bool) *Codec {
	t.Helper()
	var key *Key
	if enc {
		key = testKey(1)
	}
	c, err := NewCodec(Layout{BlockSize: bs, Encrypted: enc}, key)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// randomBytes returns n bytes of a fixed pseudo-random stream.
func randomBytes(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8)})
	_, _ = r.Read(b)
	return b
}

// modes names the two kinds of layout.
var modes = []struct {
	name string
	enc  bool
}{{"clear", false}, {"encrypted", true}}

func TestNewCodec(t *testing.T) {
	tests := []struct {
		name string
		l    Layout
		key  *Key
		ok   bool
	}{
		{"clear without key", Layout{BlockSize: 16}, nil, true},
		{"encrypted with key", Layout{BlockSize: 16, Encrypted: true}, testKey(1), true},
		{"encrypted without key", Layout{BlockSize: 16, Encrypted: true}, nil, false},
		{"clear with key", Layout{BlockSize: 16}, testKey(1), false},
		{"invalid layout", Layout{BlockSize: 0, Encrypted: true}, testKey(1), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := NewCodec(tc.l, tc.key)
			if !tc.ok {
				if !errors.Is(err, blobstore.ErrInvalidArgument) {
					t.Fatalf("NewCodec = %v, want ErrInvalidArgument", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Layout() != tc.l {
				t.Fatalf("Layout() = %+v, want %+v", c.Layout(), tc.l)
			}
		})
	}
}

// TestCodecKeepsOwnKey checks that changing the caller's key after NewCodec
// does not change what the codec opens.
func TestCodecKeepsOwnKey(t *testing.T) {
	k := *testKey(1)
	c, err := NewCodec(Layout{BlockSize: 64, Encrypted: true}, &k)
	if err != nil {
		t.Fatal(err)
	}
	stored := c.SealBlock(nil, []byte("hello"))
	k[0] ^= 1
	if _, err := c.OpenBlock(nil, stored, BlockHash(stored)); err != nil {
		t.Fatal(err)
	}
}

// decodeChunk opens every block of an encoded chunk, checking it against
// the layout's arithmetic on the way.
func decodeChunk(t *testing.T, c *Codec, stored []byte, hashes [][HashSize]byte, plainLen int64) []byte {
	t.Helper()
	l := c.Layout()
	var out []byte
	for i, h := range hashes {
		off, n, plainN := l.StoredBlock(plainLen, i)
		before := len(out)
		var err error
		out, err = c.OpenBlock(out, stored[off:off+int64(n)], h)
		if err != nil {
			t.Fatalf("block %d: %v", i, err)
		}
		if len(out)-before != plainN {
			t.Fatalf("block %d opened to %d bytes, layout says %d", i, len(out)-before, plainN)
		}
	}
	return out
}

func TestChunkRoundTrip(t *testing.T) {
	const mib = 1 << 20
	type size struct {
		bs   int
		plen int64
	}
	var sizes []size
	for _, n := range []int64{0, 1, mib - 1, mib, mib + 1, 8*mib + 3} {
		sizes = append(sizes, size{mib, n})
	}
	for n := range int64(50) {
		sizes = append(sizes, size{16, n})
	}
	sizes = append(sizes, size{1, 5}, size{4096, 3*4096 + 17})
	for _, m := range modes {
		for _, sz := range sizes {
			t.Run(fmt.Sprintf("%s/block=%d/len=%d", m.name, sz.bs, sz.plen), func(t *testing.T) {
				c := newTestCodec(t, sz.bs, m.enc)
				l := c.Layout()
				plain := randomBytes(int(sz.plen), uint64(sz.plen))
				var stored bytes.Buffer
				hashes, storedLen, err := c.EncodeChunk(bytes.NewReader(plain), sz.plen, &stored)
				if err != nil {
					t.Fatal(err)
				}
				if storedLen != int64(stored.Len()) || storedLen != l.StoredLen(sz.plen) {
					t.Fatalf("storedLen %d, wrote %d, StoredLen says %d", storedLen, stored.Len(), l.StoredLen(sz.plen))
				}
				if len(hashes) != l.Blocks(sz.plen) {
					t.Fatalf("%d hashes, Blocks says %d", len(hashes), l.Blocks(sz.plen))
				}
				if pl, err := l.PlainLen(storedLen, len(hashes)); err != nil || pl != sz.plen {
					t.Fatalf("PlainLen(%d, %d) = %d, %v, want %d", storedLen, len(hashes), pl, err, sz.plen)
				}
				for i, h := range hashes {
					off, n, _ := l.StoredBlock(sz.plen, i)
					if BlockHash(stored.Bytes()[off:off+int64(n)]) != h {
						t.Fatalf("hash %d is not the SHA-256 of stored bytes [%d, %d)", i, off, off+int64(n))
					}
				}
				if m.enc && sz.plen >= 16 && bytes.Contains(stored.Bytes(), plain[:16]) {
					t.Fatal("stored form contains the plaintext")
				}
				if !m.enc && !bytes.Equal(stored.Bytes(), plain) {
					t.Fatal("stored form in the clear is not the plaintext")
				}
				if got := decodeChunk(t, c, stored.Bytes(), hashes, sz.plen); !bytes.Equal(got, plain) {
					t.Fatal("round trip changed the data")
				}
			})
		}
	}
}

// TestSealOpenBlock checks SealBlock and OpenBlock directly, appending to a
// non-empty dst.
func TestSealOpenBlock(t *testing.T) {
	for _, m := range modes {
		for _, n := range []int{0, 1, 99, 100} {
			t.Run(fmt.Sprintf("%s/%d", m.name, n), func(t *testing.T) {
				c := newTestCodec(t, 100, m.enc)
				plain := randomBytes(n, 7)
				stored := c.SealBlock([]byte("prefix"), plain)
				if !bytes.HasPrefix(stored, []byte("prefix")) || len(stored) != len("prefix")+n+c.Layout().Overhead() {
					t.Fatalf("SealBlock returned %d bytes", len(stored))
				}
				stored = stored[len("prefix"):]
				got, err := c.OpenBlock([]byte("dst:"), stored, BlockHash(stored))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, append([]byte("dst:"), plain...)) {
					t.Fatal("OpenBlock did not append the plaintext to dst")
				}
			})
		}
	}
}

func TestSealBlockTooLongPanics(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newTestCodec(t, 8, m.enc)
			defer func() {
				if recover() == nil {
					t.Fatal("SealBlock of 9 bytes with 8-byte blocks did not panic")
				}
			}()
			c.SealBlock(nil, make([]byte, 9))
		})
	}
}

func TestFreshNonces(t *testing.T) {
	c := newTestCodec(t, 64, true)
	plain := []byte("the same plaintext, sealed twice")
	seen := map[string]bool{}
	for range 100 {
		s := string(c.SealBlock(nil, plain))
		if seen[s] || seen[s[:NonceSize]] {
			t.Fatal("two seals of the same plaintext share a nonce or stored form")
		}
		seen[s], seen[s[:NonceSize]] = true, true
	}
}

// TestBitFlips flips every bit of a stored block. With the recorded hash the
// hash check must catch it; with a hash recomputed over the damaged bytes
// (a damaged index, or an attacker who can rewrite it) the tag must.
func TestBitFlips(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newTestCodec(t, 64, m.enc)
			plain := randomBytes(50, 3)
			stored := c.SealBlock(nil, plain)
			want := BlockHash(stored)
			for bit := range 8 * len(stored) {
				bad := bytes.Clone(stored)
				bad[bit/8] ^= 1 << (bit % 8)
				if got, err := c.OpenBlock(nil, bad, want); !errors.Is(err, blobstore.ErrIntegrity) || got != nil {
					t.Fatalf("bit %d flipped, recorded hash: got %d bytes, %v; want ErrIntegrity", bit, len(got), err)
				}
				got, err := c.OpenBlock(nil, bad, BlockHash(bad))
				if m.enc && (!errors.Is(err, blobstore.ErrIntegrity) || got != nil) {
					t.Fatalf("bit %d flipped, recomputed hash: got %d bytes, %v; want ErrIntegrity", bit, len(got), err)
				}
				if !m.enc && (err != nil || !bytes.Equal(got, bad)) {
					t.Fatalf("bit %d flipped in the clear, recomputed hash: %v", bit, err)
				}
			}
		})
	}
}

func TestOpenBlockRejectsLength(t *testing.T) {
	tests := []struct {
		name string
		enc  bool
		n    int
	}{
		{"encrypted, shorter than overhead", true, EncryptedOverhead - 1},
		{"encrypted, empty", true, 0},
		{"encrypted, longer than a block", true, 16 + EncryptedOverhead + 1},
		{"clear, longer than a block", false, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestCodec(t, 16, tc.enc)
			stored := randomBytes(tc.n, 1)
			if _, err := c.OpenBlock(nil, stored, BlockHash(stored)); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Fatalf("OpenBlock of %d bytes = %v, want ErrIntegrity", tc.n, err)
			}
		})
	}
}

// TestOpenChecked checks the open of a block whose hash its caller has
// checked: the plaintext as OpenBlock gives it (an unencrypted block
// itself, not a copy), and still no plaintext for a bad length or tag.
func TestOpenChecked(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newTestCodec(t, 100, m.enc)
			plain := randomBytes(99, 3)
			stored := c.SealBlock(nil, plain)
			got, err := c.OpenChecked(nil, stored)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("OpenChecked = %d bytes, %v; want the %d bytes sealed", len(got), err, len(plain))
			}
			if !m.enc && &got[0] != &stored[0] {
				t.Error("an unencrypted block was copied; OpenChecked returns it as it is")
			}
			if _, err := c.OpenChecked(nil, randomBytes(100+c.Layout().Overhead()+1, 4)); !errors.Is(err, blobstore.ErrIntegrity) {
				t.Errorf("OpenChecked of a block longer than the layout allows = %v, want ErrIntegrity", err)
			}
			if m.enc {
				stored[len(stored)-1] ^= 1
				if got, err := c.OpenChecked(nil, stored); !errors.Is(err, blobstore.ErrIntegrity) || got != nil {
					t.Errorf("OpenChecked of a block with a flipped tag bit = %q, %v; want ErrIntegrity", got, err)
				}
			}
		})
	}
}

// TestBlockSwapCaught checks that a genuine block put where another was
// recorded fails the hash check, though its tag is valid.
func TestBlockSwapCaught(t *testing.T) {
	c := newTestCodec(t, 16, true)
	a := c.SealBlock(nil, []byte("block a"))
	b := c.SealBlock(nil, []byte("block b"))
	if _, err := c.OpenBlock(nil, b, BlockHash(a)); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("block b opened with block a's hash: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	l := Layout{BlockSize: 64, Encrypted: true}
	c1, err := NewCodec(l, testKey(1))
	if err != nil {
		t.Fatal(err)
	}
	c2, err := NewCodec(l, testKey(2))
	if err != nil {
		t.Fatal(err)
	}
	stored := c1.SealBlock(nil, []byte("secret"))
	got, err := c2.OpenBlock(nil, stored, BlockHash(stored))
	if !errors.Is(err, blobstore.ErrIntegrity) || got != nil {
		t.Fatalf("OpenBlock with another key = %q, %v; want ErrIntegrity", got, err)
	}
}

// TestBlockNotAcceptedAsName checks the domain separation between blocks
// and names: a sealed block holding a valid name is not a sealed name.
func TestBlockNotAcceptedAsName(t *testing.T) {
	c := newTestCodec(t, 64, true)
	stored := c.SealBlock(nil, []byte("chunk-1"))
	if name, err := c.OpenName(sealedNamePrefix + b64.EncodeToString(stored)); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("OpenName of a sealed block = %q, %v; want ErrIntegrity", name, err)
	}
	id, err := c.SealName("chunk-1")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := b64.DecodeString(id[len(sealedNamePrefix):])
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.OpenBlock(nil, raw, BlockHash(raw)); !errors.Is(err, blobstore.ErrIntegrity) {
		t.Fatalf("OpenBlock of a sealed name = %v, want ErrIntegrity", err)
	}
}

func TestEncodeChunkShortRead(t *testing.T) {
	for _, m := range modes {
		for _, have := range []int{0, 5, 16, 17, 31} {
			t.Run(fmt.Sprintf("%s/%d of 32", m.name, have), func(t *testing.T) {
				c := newTestCodec(t, 16, m.enc)
				_, _, err := c.EncodeChunk(bytes.NewReader(make([]byte, have)), 32, io.Discard)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("EncodeChunk = %v, want io.ErrUnexpectedEOF", err)
				}
			})
		}
	}
}

func TestEncodeChunkReadsExactly(t *testing.T) {
	c := newTestCodec(t, 16, true)
	r := bytes.NewReader(make([]byte, 100))
	if _, _, err := c.EncodeChunk(r, 40, io.Discard); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 60 {
		t.Fatalf("EncodeChunk of 40 bytes left %d of 100 unread, want 60", r.Len())
	}
}

type failWriter struct{ n int }

func (w *failWriter) Write(p []byte) (int, error) {
	if w.n <= 0 {
		return 0, errBroken
	}
	w.n--
	return len(p), nil
}

type shortWriter struct{}

func (shortWriter) Write(p []byte) (int, error) { return len(p) / 2, nil }

type failReader struct{}

func (failReader) Read([]byte) (int, error) { return 0, errBroken }

var errBroken = errors.New("broken")

func TestEncodeChunkErrors(t *testing.T) {
	tests := []struct {
		name string
		r    func() io.Reader
		n    int64
		w    func() io.Writer
		want error
	}{
		{"negative length", zeros(0), -1, discard, blobstore.ErrInvalidArgument},
		{"reader fails", func() io.Reader { return failReader{} }, 10, discard, errBroken},
		{"writer fails on the second block", zeros(40), 40, func() io.Writer { return &failWriter{n: 1} }, errBroken},
		{"short write", zeros(10), 10, func() io.Writer { return shortWriter{} }, io.ErrShortWrite},
	}
	for _, m := range modes {
		for _, tc := range tests {
			t.Run(m.name+"/"+tc.name, func(t *testing.T) {
				c := newTestCodec(t, 16, m.enc)
				hashes, n, err := c.EncodeChunk(tc.r(), tc.n, tc.w())
				if !errors.Is(err, tc.want) || hashes != nil || n != 0 {
					t.Fatalf("EncodeChunk = %d hashes, %d, %v; want %v", len(hashes), n, err, tc.want)
				}
			})
		}
	}
}

func zeros(n int) func() io.Reader {
	return func() io.Reader { return bytes.NewReader(make([]byte, n)) }
}

func discard() io.Writer { return io.Discard }

// TestNoAllocs checks that sealing and opening into a buffer with room
// allocate nothing.
func TestNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			c := newTestCodec(t, 4096, m.enc)
			plain := randomBytes(4096, 1)
			stored := c.SealBlock(nil, plain)
			h := BlockHash(stored)
			sealBuf := make([]byte, 0, len(stored))
			openBuf := make([]byte, 0, len(plain))
			if n := testing.AllocsPerRun(50, func() { c.SealBlock(sealBuf, plain) }); n != 0 {
				t.Errorf("SealBlock: %v allocations", n)
			}
			if n := testing.AllocsPerRun(50, func() { _, _ = c.OpenBlock(openBuf, stored, h) }); n != 0 {
				t.Errorf("OpenBlock: %v allocations", n)
			}
		})
	}
}
