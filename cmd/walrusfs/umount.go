package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
)

func runUmount(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("umount", flag.ContinueOnError)
	fl.SetOutput(stderr)
	lazy := fl.Bool("lazy", false, "detach now and finish unmounting once the mount is no longer busy")
	fl.Usage = func() {
		fmt.Fprintln(stderr, "Usage: walrusfs umount [--lazy] MOUNTPOINT")
		fl.PrintDefaults()
	}
	if help, err := parseArgs(fl, args, 1, "MOUNTPOINT"); help || err != nil {
		return err
	}
	mnt, err := filepath.Abs(fl.Arg(0))
	if err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		argv := []string{"-u"}
		if *lazy {
			argv = append(argv, "-z")
		}
		for _, prog := range []string{"fusermount3", "fusermount"} {
			if p, err := exec.LookPath(prog); err == nil {
				cmd := exec.CommandContext(ctx, p, append(argv, mnt)...)
				cmd.Stdout, cmd.Stderr = stdout, stderr
				return cmd.Run()
			}
		}
		return errors.New("unmounting as a non-root user needs fusermount3: apt-get install fuse3")
	}
	flags := 0
	if *lazy {
		flags = syscall.MNT_DETACH
	}
	switch err := syscall.Unmount(mnt, flags); {
	case err == nil:
		return nil
	case errors.Is(err, syscall.EINVAL):
		return fmt.Errorf("%s is not mounted", mnt)
	case errors.Is(err, syscall.EBUSY):
		return fmt.Errorf("%s is busy: close the files and shells using it (fuser -vm %s lists them), or use --lazy", mnt, mnt)
	case errors.Is(err, syscall.ENOENT):
		return fmt.Errorf("%s does not exist", mnt)
	default:
		return fmt.Errorf("unmounting %s: %w", mnt, err)
	}
}
