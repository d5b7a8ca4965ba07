package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	fusefs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// loopbackCommand is the hidden subcommand with which the harness re-executes
// itself to serve the reference mount in a process of its own, so that its
// memory and CPU are measured the same way as the walrusfs daemon's.
const loopbackCommand = "loopback-daemon"

// mountOptions are the options walrusfs mounts with (fs.FS.Options); the
// reference loopback uses the same so that the comparison is about the
// filesystem, not about kernel settings. fsName is the first column of df.
//
// Unless passthrough is set, FUSE passthrough is switched off. go-fuse's
// loopback hands the kernel its backing file when it can (root, Linux 6.9
// or later), and the kernel then reads and writes that file itself without
// asking the daemon: a fine ceiling for the disk, but not for a filesystem
// that serves every byte from its own process, as walrusfs does.
func mountOptions(fsName, name string, passthrough bool) *fusefs.Options {
	sec := time.Second
	var disabled uint64
	if !passthrough {
		disabled = fuse.CAP_PASSTHROUGH
	}
	return &fusefs.Options{
		AttrTimeout:     &sec,
		EntryTimeout:    &sec,
		NegativeTimeout: &sec,
		MountOptions: fuse.MountOptions{
			FsName:  fsName,
			Name:    name,
			Options: []string{"default_permissions"},
			// 1 MiB requests; go-fuse lowers this to what the kernel
			// allows (fs.fuse.max_pages_limit pages).
			MaxWrite: 1 << 20,
			// The kernel offers its limit at INIT; go-fuse only lowers it.
			MaxReadAhead:  1 << 20,
			MaxBackground: 64,
			// mount(2) when root, else fusermount.
			DirectMount:          true,
			DisabledCapabilities: disabled,
		},
	}
}

// runLoopbackDaemon serves go-fuse's loopback filesystem of orig on mnt in
// the foreground until SIGTERM or SIGINT, then unmounts.
func runLoopbackDaemon(args []string) int {
	fl := flag.NewFlagSet(loopbackCommand, flag.ContinueOnError)
	passthrough := fl.Bool("passthrough", false, "let the kernel use FUSE passthrough")
	if err := fl.Parse(args); err != nil || fl.NArg() != 2 {
		fmt.Fprintf(os.Stderr, "usage: bench %s [-passthrough] ORIG MOUNTPOINT\n", loopbackCommand)
		return 2
	}
	orig, mnt := fl.Arg(0), fl.Arg(1)
	root, err := fusefs.NewLoopbackRoot(orig)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loopback: %v\n", err)
		return 1
	}
	// Catch SIGTERM before mounting: go-fuse's Mount finishes by opening
	// a file on the new mount, and a process killed while it holds that
	// file open waits forever on its own FLUSH.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, os.Interrupt)
	opts := mountOptions(orig, "loopback", *passthrough)
	opts.Logger = log.New(os.Stderr, "loopback: ", log.LstdFlags)
	server, err := fusefs.Mount(mnt, root, opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loopback: mount %s: %v\n", mnt, err)
		return 1
	}
	go func() {
		<-sigs
		if err := server.Unmount(); err != nil {
			fmt.Fprintf(os.Stderr, "loopback: unmount %s: %v\n", mnt, err)
		}
	}()
	server.Wait()
	return 0
}
