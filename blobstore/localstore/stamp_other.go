//go:build !linux

package localstore

import "os"

// fileStamp is a file's identity where the system gives one (Linux);
// elsewhere records are not kept in memory.
type fileStamp struct{}

func stampOf(os.FileInfo) (fileStamp, bool) { return fileStamp{}, false }
