package localstore

import "sync"

// bufPool recycles byte buffers of about one size: the rows' spans of
// patch reads (spanBufs), their groups of columns (groupBufs), and Put's
// copy and sliver buffers (Store.copyBufs, Store.sliverBufs).
type bufPool struct{ pool sync.Pool }

var spanBufs, groupBufs bufPool

// get returns a buffer of n bytes, not cleared: its users fill what they
// use before using it.
func (p *bufPool) get(n int) []byte {
	if b, ok := p.pool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:n]
	}
	return make([]byte, n)
}

func (p *bufPool) put(b []byte) {
	if cap(b) <= 64<<20 {
		p.pool.Put(&b)
	}
}
