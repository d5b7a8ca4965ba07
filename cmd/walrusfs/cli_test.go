package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// runForTest runs a command line in this process and returns its error.
func runForTest(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	_, err := execute(ctx, args, stdout, stderr)
	return err
}

// everyCommand walks the command tree.
func everyCommand(c *cobra.Command, visit func(*cobra.Command)) {
	visit(c)
	for _, sub := range c.Commands() {
		everyCommand(sub, visit)
	}
}

// TestHelpOnEveryCommand: -h works on every command, prints its usage to
// stdout and exits 0, and mount's help shows the README's groups.
func TestHelpOnEveryCommand(t *testing.T) {
	n := 0
	everyCommand(rootCommand(), func(c *cobra.Command) {
		path := strings.Fields(c.CommandPath())[1:]
		var out, errOut bytes.Buffer
		if err := runForTest(t.Context(), append(path, "-h"), &out, &errOut); err != nil {
			t.Errorf("%s -h: %v\n%s", c.CommandPath(), err, errOut.String())
			return
		}
		if !strings.Contains(out.String(), "Usage:") {
			t.Errorf("%s -h printed no usage:\n%s", c.CommandPath(), out.String())
		}
		n++
	})
	if n < 15 {
		t.Errorf("only %d commands in the tree", n)
	}
	var out bytes.Buffer
	if err := runForTest(t.Context(), []string{"mount", "--help"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	help := out.String()
	last := -1
	for _, heading := range []string{groupMount + ":", groupData + ":", groupChain + ":"} {
		i := strings.Index(help, "\n"+heading+"\n")
		if i < 0 || i < last {
			t.Fatalf("mount -h: group %q missing or out of order:\n%s", heading, help)
		}
		last = i
	}
	for _, flag := range []string{"--state-dir", "--publisher", "--sui-key", "--upload-delay"} {
		if !strings.Contains(help, flag) {
			t.Errorf("mount -h lacks %s", flag)
		}
	}
	if strings.Contains(help, "--seal-delay") {
		t.Error("mount -h shows --seal-delay, the old name of --upload-delay")
	}
}

// TestBadFlagsAreOneLine: a bad flag or value is one line that names it,
// without the flag list, and is a usage error (exit status 2).
func TestBadFlagsAreOneLine(t *testing.T) {
	for _, args := range [][]string{
		{"mount", "--chunk-size", "7potatoes", "/mnt/x"},
		{"mount", "--commit-interval", "soon", "/mnt/x"},
		{"status", "--no-such-flag"},
		{"chain", "status", "--renew-before", "many"},
		{"umount"},
		{"no-such-command"},
	} {
		var out, errOut bytes.Buffer
		code := run(args, &out, &errOut)
		msg := errOut.String()
		if code != 2 || strings.Count(msg, "\n") != 1 || strings.Contains(msg, "Usage:") {
			t.Errorf("%q: exit %d, want 2 and one line; got:\n%s", args, code, msg)
		}
		if len(args) > 2 && !strings.Contains(msg, args[2]) {
			t.Errorf("%q: the message does not name %q: %s", args, args[2], msg)
		}
	}
	var errOut bytes.Buffer
	run([]string{"mount", "--chunk-size=7potatoes", "/mnt/x"}, io.Discard, &errOut)
	if msg := errOut.String(); !strings.HasPrefix(msg, "walrusfs mount: ") || !strings.Contains(msg, "--chunk-size") || !strings.Contains(msg, "KiB, MiB, GiB, TiB") {
		t.Errorf("bad size: %s", msg)
	}
}

// TestCompletionScripts: the shells' completion scripts are generated and
// know the commands.
func TestCompletionScripts(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		var out bytes.Buffer
		if err := runForTest(t.Context(), []string{"completion", shell}, &out, io.Discard); err != nil {
			t.Fatalf("completion %s: %v", shell, err)
		}
		if !strings.Contains(out.String(), "walrusfs") || out.Len() < 1000 {
			t.Errorf("completion %s: %d bytes", shell, out.Len())
		}
	}
	// The completion script asks the binary; its answer lists the flags.
	var out bytes.Buffer
	if err := runForTest(t.Context(), []string{cobra.ShellCompRequestCmd, "mount", "--stat"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "--state-dir") {
		t.Errorf("completing 'mount --stat' gave:\n%s", out.String())
	}
}

// TestManPages: `walrusfs man` (make man) writes a page per command.
func TestManPages(t *testing.T) {
	dir := t.TempDir()
	if err := runForTest(t.Context(), []string{"man", "--dir", dir}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "walrusfs-mount.1"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(page, []byte(".TH \"WALRUSFS\"")) || !bytes.Contains(page, []byte("--state-dir")) {
		t.Errorf("walrusfs-mount.1:\n%s", page)
	}
	for _, name := range []string{"walrusfs.1", "walrusfs-chain-status.1", "walrusfs-key-show.1"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Error(err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "walrusfs-man.1")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the hidden man command got a page: %v", err)
	}
}
