package localstore

import (
	"bytes"
	"fmt"
	"io"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/blobstore/quilt"
)

// patchReader streams one quilt patch (see [Store.ReadPatch]).
//
// A patch's bytes are its columns one after the other, each column's
// symbols top to bottom: the header (quilt.PatchHeader), the data, then
// padding to the end of the last column. The reader first reads the
// header's fixed start, which gives the patch's size, so that only the
// columns the patch fills are read, and of the last one only the rows it
// fills. It then reads a group of columns at a time (about
// Store.patchGroup bytes, ending on a node of the quilt's sliver trees so
// that no node is hashed twice) into one buffer reused from group to
// group: a reply can be on its way before the whole patch is read, and
// memory stays bounded whatever the patch's size.
//
// When a group cannot be read that way (a sliver file missing, short or
// damaged there), the rest of the patch is read from whole slivers, which
// reconstructs and repairs; those columns are then held until read.
type patchReader struct {
	r          *reader
	start, end int // the patch's columns, from its ID
	colBytes   int
	node       int // columns per sliver tree node (1 without trees)
	size       int // the patch's bytes, header included, padding not
	dataLen    int // the data's bytes: what the reader returns
	stop       int // the column after the last one holding patch bytes
	next       int // the next column to read

	data      []byte   // read and not yet returned
	buf       []byte   // the group buffer
	whole     [][]byte // columns [wholeFrom, stop) read whole after a failure
	wholeFrom int
	err       error // sticky
}

// defaultPatchGroup is about how many bytes of a patch are read at a time
// (Store.patchGroup): large enough that a group's row reads are not tiny,
// small enough that a reply starts soon and overlaps the reads of the next
// group.
const defaultPatchGroup = 2 << 20

// begin reads the patch's header, and the first group of its data.
func (p *patchReader) begin() error {
	p.node = p.r.nodeColumns()
	p.stop = p.end
	p.next = p.start
	p.buf = groupBufs.get(p.groupColumns() * p.colBytes)
	sym := p.r.lay.SymbolSize
	// The header's fixed start says how long the patch is.
	headRows := (quilt.PatchHeaderLen + sym - 1) / sym
	if err := p.r.readColumnsInto(p.buf[:p.colBytes], p.start, p.start+1, headRows); err != nil {
		if !p.r.canFallBack(err, p.start, p.end) {
			return err
		}
		if err := p.readWhole(p.start); err != nil {
			return err
		}
		copy(p.buf, p.whole[0][:quilt.PatchHeaderLen])
	}
	size, err := quilt.PatchSize(p.buf[:quilt.PatchHeaderLen], (p.end-p.start)*p.colBytes, p.start)
	if err != nil {
		return err
	}
	p.size = size
	p.stop = p.start + (size+p.colBytes-1)/p.colBytes
	if p.whole != nil {
		p.whole = p.whole[:p.stop-p.wholeFrom]
	}
	// Then the whole header, which may (rarely) take more than a group.
	var prefix []byte
	for {
		if err := p.fill(); err != nil {
			return err
		}
		got := p.data
		if prefix != nil {
			prefix = append(prefix, p.data...)
			got = prefix
		}
		h, need, err := quilt.ParsePatchHeader(got, p.size, p.start)
		if err != nil {
			return err
		}
		if need <= len(got) {
			p.data = p.data[h.DataStart-(len(got)-len(p.data)):]
			p.dataLen = h.End - h.DataStart
			return nil
		}
		if p.next >= p.stop {
			return fmt.Errorf("patch header wants %d bytes, the patch has %d: %w", need, p.size, blobstore.ErrInvalidArgument)
		}
		if prefix == nil {
			prefix = bytes.Clone(p.data)
		}
	}
}

// groupColumns is the most columns one group takes.
func (p *patchReader) groupColumns() int {
	cols := max(1, p.r.s.patchGroup/p.colBytes)
	return (cols + p.node - 1) / p.node * p.node
}

// fill reads the next group of columns, or the next column held whole,
// into p.data.
func (p *patchReader) fill() error {
	if p.err != nil {
		return p.err
	}
	a := p.next
	if p.whole == nil {
		cols := p.groupColumns()
		b := min(p.stop, (a+cols)/p.node*p.node)
		n := min(p.size-(a-p.start)*p.colBytes, (b-a)*p.colBytes)
		sym := p.r.lay.SymbolSize
		lastRows := (n - (b-1-a)*p.colBytes + sym - 1) / sym
		err := p.r.readColumnsInto(p.buf[:(b-a)*p.colBytes], a, b, lastRows)
		if err == nil {
			p.data, p.next = p.buf[:n], b
			return nil
		}
		if !p.r.canFallBack(err, a, p.stop) {
			p.err = err
			return err
		}
		if err := p.readWhole(a); err != nil {
			p.err = err
			return err
		}
	}
	n := min(p.size-(a-p.start)*p.colBytes, p.colBytes)
	p.data, p.next = p.whole[a-p.wholeFrom][:n], a+1
	return nil
}

// readWhole reads columns [from, stop) from whole slivers.
func (p *patchReader) readWhole(from int) error {
	cols, err := p.r.wholeColumns(from, p.stop)
	if err != nil {
		return err
	}
	p.whole, p.wholeFrom = cols, from
	return nil
}

// Size returns the number of bytes of the patch's data: what reading the
// reader to its end returns.
func (p *patchReader) Size() int64 { return int64(p.dataLen) }

func (p *patchReader) Read(b []byte) (int, error) {
	for len(p.data) == 0 {
		if p.err != nil {
			return 0, p.err
		}
		if p.next >= p.stop {
			return 0, io.EOF
		}
		if err := p.fill(); err != nil {
			return 0, err
		}
	}
	n := copy(b, p.data)
	p.data = p.data[n:]
	return n, nil
}

// WriteTo writes the rest of the patch to w, each group from the buffer it
// was read into.
func (p *patchReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if len(p.data) > 0 {
			n, err := w.Write(p.data)
			total += int64(n)
			p.data = p.data[n:]
			if err != nil {
				return total, err
			}
		}
		if p.err != nil {
			return total, p.err
		}
		if p.next >= p.stop {
			return total, nil
		}
		if err := p.fill(); err != nil {
			return total, err
		}
	}
}

// Close releases the reader's buffers. Reads after Close fail.
func (p *patchReader) Close() error {
	if p.buf != nil {
		groupBufs.put(p.buf)
	}
	p.buf, p.data, p.whole = nil, nil, nil
	p.err = errReaderClosed
	return nil
}

// nodeColumns returns how many columns one node of the blob's sliver
// trees covers: 1 when the blob has none.
func (r *reader) nodeColumns() int {
	unlock, err := r.hold()
	if err != nil {
		return 1
	}
	defer unlock()
	bt, _ := r.s.loadTrees(r.rec, r.lay)
	if bt == nil {
		return 1
	}
	return 1 << bt.trees[0].Level
}
