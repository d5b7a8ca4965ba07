package blobstore

import "syscall"

// lowerThreadPriority sets the nice value of the calling thread (Linux
// keeps one per thread) to BackgroundNice. It is advice: an error leaves
// the thread as it was.
func lowerThreadPriority() {
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, syscall.Gettid(), BackgroundNice)
}
