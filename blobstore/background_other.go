//go:build !linux

package blobstore

// lowerThreadPriority does nothing where threads have no priority of their
// own.
func lowerThreadPriority() {}
