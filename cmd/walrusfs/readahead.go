package main

import (
	"github.com/walrusfs/walrusfs/fs"
)

// readaheadLead is how far past an application's reads the kernel's
// readahead of a file read from the store (--stored-readahead) may ask
// (filedata.Config.ReadaheadLead): two windows, each at least one request.
// With 0 the kernel keeps its 128 KiB; should setting it fail, the lead
// is smaller than assumed and fetch-ahead only starts later.
func readaheadLead(readahead uint64) int64 {
	if readahead == 0 {
		readahead = 128 << 10
	}
	return 2 * int64(max(readahead, fs.MaxRequest))
}
