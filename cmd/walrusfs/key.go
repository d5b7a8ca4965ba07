package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/fs/filedata/blockcrypt"
	"github.com/walrusfs/walrusfs/index"
)

// keyFileName is the volume key's file in the state directory.
const keyFileName = "walrusfs.key"

// volumeKeys is what openKey needs from the index (*index.Index).
type volumeKeys interface {
	VolumeKey() (string, error)
	SetVolumeKey(fingerprint string) error
	HasStoredData() (bool, error)
}

// openKey returns the volume key from the key file in stateDir, nil when
// the volume neither uses nor needs one. The index records which key the
// volume's data is encrypted with, so a key file that is missing or holds
// another key is refused, in words that say which key is expected and
// where to find it, instead of a new key being made while the old data
// turns unreadable. A new key is made only when create is set, for a
// volume that has stored nothing encrypted yet, or when the user asks
// (newKey).
func openKey(stateDir string, idx volumeKeys, encrypt, newKey, create bool, log *slog.Logger) (*blockcrypt.Key, error) {
	path := filepath.Join(stateDir, keyFileName)
	want, err := idx.VolumeKey()
	if err != nil {
		return nil, err
	}
	k, err := blockcrypt.LoadKey(path)
	switch {
	case err == nil:
		if want != "" && k.Fingerprint() != want {
			if !newKey {
				return nil, fmt.Errorf("the key file %s holds key %s, but this volume's data is encrypted with key %s: put that key's file back from your backup ('walrusfs key show' prints a key file's fingerprint), or mount with --new-key to use this key from now on (data written with key %s stays unreadable without it)",
					path, k.Fingerprint(), want, want)
			}
			log.Warn("using a different encryption key from now on; data written with the old key cannot be read without it",
				"key_file", path, "old_key", want, "new_key", k.Fingerprint())
		}
		if err := idx.SetVolumeKey(k.Fingerprint()); err != nil {
			return nil, err
		}
		return &k, nil
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	case want != "" && !newKey:
		return nil, fmt.Errorf("the key file %s is missing, and this volume's data is encrypted with key %s: restore the file from your backup (two lines: walrusfs-key-v1, then the key's 64 hexadecimal digits; mode 0600), or mount with --new-key to start a new key (files written with key %s then fail to read)",
			path, want, want)
	case !encrypt && want == "":
		return nil, nil
	}
	if want == "" && !newKey {
		// A volume from before the index recorded its key: its stored
		// data may be encrypted with a key file that went missing.
		stored, err := idx.HasStoredData()
		if err != nil {
			return nil, err
		}
		if stored {
			return nil, fmt.Errorf("the key file %s is missing, and this volume has data in the blob store that may be encrypted with it: restore the file from your backup, or mount with --encrypt off if the data was never encrypted, or with --new-key to start a new key", path)
		}
	}
	if !create {
		return nil, fmt.Errorf("no key file at %s", path)
	}
	k, err = blockcrypt.CreateKey(path)
	if err != nil {
		return nil, err
	}
	if err := idx.SetVolumeKey(k.Fingerprint()); err != nil {
		return nil, err
	}
	log.Warn("generated a new encryption key; back it up now ('walrusfs key show' prints it): without it, data stored in Walrus cannot be read",
		"key_file", path, "key", k.Fingerprint())
	return &k, nil
}

var _ volumeKeys = (*index.Index)(nil)

// keyCommand is `walrusfs key show`.
func keyCommand() *cobra.Command {
	show := newCommand(commandSpec{
		use:   "show [--state-dir DIR]",
		short: "print the volume's encryption key and fingerprint, to back them up",
		long: `Prints the volume's encryption key and its fingerprint, to write down or print and
keep apart from the machine: without the key, data stored in Walrus cannot be read.`,
		args: exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			stateDir := fl.String("state-dir", defaultStateDir(), "state directory of the volume")
			return func(_ context.Context, _ []string, stdout, _ io.Writer) error {
				return runKeyShow(*stateDir, stdout)
			}
		},
	})
	return newCommand(commandSpec{
		use:         "key",
		short:       "show the volume's encryption key and fingerprint (key show), to back it up",
		subcommands: []*cobra.Command{show},
	})
}

// runKeyShow prints the key of the volume in stateDir.
func runKeyShow(stateDir string, stdout io.Writer) error {
	path := filepath.Join(stateDir, keyFileName)
	k, err := blockcrypt.LoadKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("no key file at %s: the volume has no encryption key there (pass --state-dir for another volume)", path)
	}
	if err != nil {
		return err
	}
	groups, file := k.Printable()
	fmt.Fprintf(stdout, "volume key of %s\n", stateDir)
	fmt.Fprintf(stdout, "fingerprint  %s\n", k.Fingerprint())
	fmt.Fprintf(stdout, "key          %s\n", groups)
	fmt.Fprintf(stdout, "\nKeep this secret and apart from this machine. To restore it, write these two lines\nto %s (mode 0600):\n\n%s", path, file)
	return nil
}
