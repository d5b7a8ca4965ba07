// Command walrusfs mounts Walrus as a POSIX filesystem and offers the tools
// around it: a local Walrus-compatible HTTP daemon, offline blob-ID
// computation, and unmounting.
//
// This package is the only place that chooses concrete implementations and
// wires them together; every other package receives its collaborators.
//
// The command line is built with spf13/cobra and pflag: each command is a
// commandSpec whose flags are registered on the cobra command's own flag
// set, so help, shell completion and the man pages (`make man`) all come
// from the same definitions.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// errUsage marks an error caused by bad command-line arguments (exit
// status 2).
var errUsage = errors.New("usage error")

// runFunc does a command's work once its flags are parsed; args are the
// positional arguments.
type runFunc func(ctx context.Context, args []string, stdout, stderr io.Writer) error

// commandSpec describes one command. setup registers the command's flags
// on fl and returns what runs once they are parsed; a command with
// subcommands has no setup.
type commandSpec struct {
	use, short, long string
	args             cobra.PositionalArgs
	setup            func(fl *pflag.FlagSet) runFunc
	subcommands      []*cobra.Command
	hidden           bool
}

// newCommand turns a spec into a cobra command.
func newCommand(s commandSpec) *cobra.Command {
	c := &cobra.Command{
		Use:    s.use,
		Short:  s.short,
		Long:   strings.TrimSpace(s.long),
		Args:   s.args,
		Hidden: s.hidden,
	}
	if c.Long == "" {
		c.Long = s.short
	}
	if s.setup != nil {
		run := s.setup(c.Flags())
		c.RunE = func(c *cobra.Command, args []string) error {
			return run(c.Context(), args, c.OutOrStdout(), c.ErrOrStderr())
		}
	}
	c.AddCommand(s.subcommands...)
	return c
}

// exactArgs accepts exactly n positional arguments, each a what.
func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		switch {
		case len(args) == n:
			return nil
		case n == 0:
			return fmt.Errorf("unexpected arguments %q: %w", args, errUsage)
		case n == 1:
			return fmt.Errorf("expected exactly one %s: %w", what, errUsage)
		}
		return fmt.Errorf("expected %d arguments (%s): %w", n, what, errUsage)
	}
}

// atLeastArgs accepts one or more positional arguments, each a what.
func atLeastArgs(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) == 0 {
			return fmt.Errorf("no %s given: %w", what, errUsage)
		}
		return nil
	}
}

// atMostOneArg accepts zero or one positional argument.
func atMostOneArg(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, args []string) error {
		if len(args) > 1 {
			return fmt.Errorf("expected at most one %s, got %q: %w", what, args, errUsage)
		}
		return nil
	}
}

// rootCommand is the whole command tree.
func rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "walrusfs",
		Short: "Walrus as a POSIX filesystem",
		Long: `walrusfs mounts Walrus, the decentralized blob store on Sui, as a plain
directory: files written into it are packed, erasure-coded and stored as
Walrus blobs, and read back with seeks that fetch only what they need.`,
		SilenceErrors: true,
		SilenceUsage:  true,
	}
	root.AddCommand(
		versionCommand(), mountCommand(), umountCommand(), syncCommand(),
		serveCommand(), blobIDCommand(), keyCommand(), chainCommand(),
		infoCommand(), statusCommand(), snapshotCommand(), restoreCommand(), fsckCommand(), gcCommand(), manCommand(),
	)
	setupHelp(root)
	return root
}

// setupHelp makes every command of the tree answer -h with its flags in
// the README's groups, and a bad flag with one line.
func setupHelp(root *cobra.Command) {
	cobra.AddTemplateFunc("groupedFlags", groupedFlagUsages)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		c.SetFlagErrorFunc(func(_ *cobra.Command, err error) error {
			return fmt.Errorf("%w (run with -h for the flags): %w", err, errUsage)
		})
		c.SetUsageTemplate(usageTemplate)
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
}

// flagGroupKey is the pflag annotation naming the help group of a flag.
const flagGroupKey = "walrusfs_group"

// addFlagGroup registers a group of flags on fl under a heading.
func addFlagGroup(fl *pflag.FlagSet, heading string, register func(*pflag.FlagSet)) {
	group := pflag.NewFlagSet(heading, pflag.ContinueOnError)
	register(group)
	group.VisitAll(func(f *pflag.Flag) {
		f.Annotations = map[string][]string{flagGroupKey: {heading}}
	})
	fl.AddFlagSet(group)
}

// The help groups, in the order help shows them (the README's order).
const (
	groupMount = "Mount"
	groupData  = "Data plane (which store, encryption, cache, uploads)"
	groupChain = "Chain sync with Walrus on Sui"
)

var flagGroupOrder = []string{"Flags", groupMount, groupData, groupChain}

// groupedFlagUsages prints a command's flags by group, ungrouped flags
// first.
func groupedFlagUsages(c *cobra.Command) string {
	groups := map[string]*pflag.FlagSet{}
	c.LocalFlags().VisitAll(func(f *pflag.Flag) {
		heading := "Flags"
		if h := f.Annotations[flagGroupKey]; len(h) == 1 {
			heading = h[0]
		}
		if groups[heading] == nil {
			groups[heading] = pflag.NewFlagSet(heading, pflag.ContinueOnError)
		}
		groups[heading].AddFlag(f)
	})
	var b strings.Builder
	for _, h := range flagGroupOrder {
		if g := groups[h]; g != nil {
			fmt.Fprintf(&b, "\n%s:\n%s", h, g.FlagUsages())
		}
	}
	return b.String()
}

const usageTemplate = `Usage:{{if .Runnable}}
  {{.UseLine}}{{end}}{{if .HasAvailableSubCommands}}
  {{.CommandPath}} COMMAND{{end}}{{if .HasAvailableSubCommands}}

Commands:{{range .Commands}}{{if (or .IsAvailableCommand (eq .Name "help"))}}
  {{rpad .Name .NamePadding }} {{.Short}}{{end}}{{end}}{{end}}{{if .HasAvailableLocalFlags}}
{{groupedFlags .}}{{end}}{{if .HasAvailableInheritedFlags}}
Global flags:
{{.InheritedFlags.FlagUsages}}{{end}}{{if .HasAvailableSubCommands}}
Run '{{.CommandPath}} COMMAND -h' for a command's flags.{{end}}
`

func main() {
	if filepath.Base(os.Args[0]) == mountHelperName {
		os.Exit(runMountHelper(os.Args[1:], os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run executes the command line args and returns the exit status: 0, 1
// for a failure, 2 for a usage error. Errors are printed as one line.
func run(args []string, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	path, err := execute(ctx, args, stdout, stderr)
	if err == nil {
		return 0
	}
	fmt.Fprintf(stderr, "%s: %v\n", path, err)
	if errors.Is(err, errUsage) {
		return 2
	}
	return 1
}

// execute runs the command line args and returns the path of the command
// that ran ("walrusfs mount") with its error.
func execute(ctx context.Context, args []string, stdout, stderr io.Writer) (string, error) {
	root := rootCommand()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	c, err := root.ExecuteContextC(ctx)
	path := "walrusfs"
	if c != nil {
		path = c.CommandPath()
	}
	if err != nil && strings.HasPrefix(err.Error(), "unknown command") {
		err = fmt.Errorf("%w; run 'walrusfs help' for the list: %w", err, errUsage)
	}
	return path, err
}
