//go:build !linux

package localstore

import "os"

// willNeed is advice the kernel takes on Linux only.
func willNeed(*os.File, int64, int64) {}
