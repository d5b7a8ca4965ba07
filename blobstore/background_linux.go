package blobstore

import "syscall"

// I/O priorities, as ioprio_set(2) encodes them: the class in the bits
// above IOPRIO_CLASS_SHIFT, the level below.
const (
	ioprioWhoProcess = 1 // IOPRIO_WHO_PROCESS: a thread ID on Linux
	ioprioClassShift = 13
	ioprioClassIdle  = 3
)

// backgroundIOPriority is the I/O priority of background threads: the idle
// class, served when no request of the foreground's (best-effort) class is
// waiting for the disk. Schedulers that honour classes (mq-deadline, BFQ)
// still serve it after a while under a constant load, so uploads slow
// down behind the foreground but never stop.
const backgroundIOPriority = ioprioClassIdle << ioprioClassShift

// lowerThreadPriority sets the nice value of the calling thread (Linux
// keeps one per thread) to BackgroundNice and its I/O priority to the idle
// class. It is advice: an error leaves the thread as it was.
func lowerThreadPriority() {
	tid := syscall.Gettid()
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, tid, BackgroundNice)
	_, _, _ = syscall.RawSyscall(syscall.SYS_IOPRIO_SET, ioprioWhoProcess, uintptr(tid), backgroundIOPriority)
}
