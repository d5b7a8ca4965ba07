// Package fs is the walrusfs filesystem as the kernel sees it: go-fuse
// nodes and handles that translate FUSE requests and errors and delegate.
// Names, attributes and extended attributes come from the index (package
// index); the bytes of files from the file data engine (package
// fs/filedata). The nodes hold no state of their own beyond their inode
// number.
//
// # Errors
//
// One function (errno.go) maps every error to the errno the kernel gets:
// errnos pass through, an interrupted request is EINTR, anything else is
// EIO with a log line naming the operation and the inode.
//
// # Durability
//
//   - Every metadata operation that returned success survives a crash of the
//     daemon (see package index for the journal and group commit).
//   - fsync on a file makes its data and all metadata durable on disk.
//   - fsync on a directory, including the mount root, makes everything
//     durable: all staged data and all metadata. Linux does not pass
//     syncfs(2) to FUSE daemons, so `walrusfs sync` fsyncs the mount root.
//
// # Deletion
//
// An unlinked file that is still open stays readable and writable until its
// last close; it is an orphan in the index until then, and a remount after a
// crash purges orphans. The engine counts open handles into the index.
//
// # Permissions
//
// The mount uses default_permissions: the kernel checks modes, owners and the
// sticky bit from the attributes we report, and with FUSE_POSIX_ACL the
// POSIX ACLs it reads through getxattr (see acl.go). New inodes get the
// caller's uid and gid (the index applies setgid-directory inheritance),
// and the caller's umask or their directory's default ACL.
//
// # Caching
//
// The kernel keeps its page cache of a file across opens (FOPEN_KEEP_CACHE):
// every change to file data passes through the kernel and inode numbers are
// never reused, so the cache cannot go stale.
package fs
