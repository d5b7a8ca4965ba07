package sui

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// privateKeyHRP is the bech32 prefix of an exported Sui private key
// ("suiprivkey1…", SIP-15): the data is the scheme flag and the 32-byte
// seed.
const privateKeyHRP = "suiprivkey"

// ErrBadKey means a key file does not hold a usable ed25519 key. Its
// message never contains the key's text.
var ErrBadKey = errors.New("sui: not an ed25519 private key (want one suiprivkey1… line or one sui.keystore entry)")

// ParsePrivateKey reads a key in either form a Sui wallet exports: a
// bech32 "suiprivkey1…" string, or a sui.keystore entry (base64 of the
// flag and the seed). A sui.keystore file itself (a JSON array) is taken
// when it holds exactly one entry. Errors never quote the input.
func ParsePrivateKey(text string) (*Signer, error) {
	text = strings.TrimSpace(text)
	if strings.HasPrefix(text, "[") {
		var entries []string
		if err := json.Unmarshal([]byte(text), &entries); err != nil {
			return nil, fmt.Errorf("%w: a JSON keystore must be an array of strings", ErrBadKey)
		}
		if len(entries) != 1 {
			return nil, fmt.Errorf("%w: the keystore holds %d keys; put the one to use in a file of its own", ErrBadKey, len(entries))
		}
		text = strings.TrimSpace(entries[0])
	}
	if strings.HasPrefix(strings.ToLower(text), privateKeyHRP+"1") {
		hrp, data, err := bech32.DecodeToBase256(text)
		if err != nil || hrp != privateKeyHRP {
			return nil, fmt.Errorf("%w: the suiprivkey string does not decode (checksum or characters)", ErrBadKey)
		}
		return signerFromFlagged(data)
	}
	raw, err := base64.StdEncoding.DecodeString(text)
	if err != nil {
		return nil, fmt.Errorf("%w: neither a suiprivkey string nor base64", ErrBadKey)
	}
	return signerFromFlagged(raw)
}

func signerFromFlagged(b []byte) (*Signer, error) {
	defer clear(b)
	switch {
	case len(b) != 33:
		return nil, fmt.Errorf("%w: %d key bytes, want the flag and a 32-byte seed", ErrBadKey, len(b))
	case b[0] != flagEd25519:
		return nil, fmt.Errorf("%w: scheme flag %#x (only ed25519, 0x00, is supported)", ErrBadKey, b[0])
	}
	return NewSigner(b[1:]), nil
}

// EncodePrivateKey writes the signer's key as a "suiprivkey1…" string, the
// form `sui keytool import` and wallets accept.
func (s *Signer) EncodePrivateKey() (string, error) {
	data := append([]byte{flagEd25519}, s.key.Seed()...)
	defer clear(data)
	return bech32.EncodeFromBase256(privateKeyHRP, data)
}

// LoadKeyFile reads a key file. A file that group or others can read is
// refused, as ssh refuses such identity files: the key controls funds.
func LoadKeyFile(path string) (*Signer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("sui key: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("sui key %s: not a regular file", path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("sui key %s: mode %04o lets others read it; run chmod 600 %s", path, perm, path)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sui key: %w", err)
	}
	defer clear(b)
	s, err := ParsePrivateKey(string(bytes.TrimSpace(b)))
	if err != nil {
		return nil, fmt.Errorf("sui key %s: %w", path, err)
	}
	return s, nil
}
