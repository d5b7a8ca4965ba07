package sui

import (
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParsePrivateKeyRejects(t *testing.T) {
	k := loadFixtures(t).Keys[0]
	flipped := []byte(k.SuiPrivKey)
	flipped[20] ^= 1 // breaks the bech32 checksum
	secp := "AQ" + k.Keystore[2:]
	for name, text := range map[string]string{
		"empty":              "",
		"garbage":            "not a key at all",
		"bad checksum":       string(flipped),
		"short base64":       "AAEC",
		"secp256k1 flag":     secp,
		"two keystore keys":  `["` + k.Keystore + `","` + k.Keystore + `"]`,
		"keystore not array": `{"key":"` + k.Keystore + `"}`,
	} {
		_, err := ParsePrivateKey(text)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if len(text) > 8 && strings.Contains(err.Error(), text[2:len(text)-2]) {
			t.Errorf("%s: the error quotes the key: %v", name, err)
		}
	}
}

func TestLoadKeyFile(t *testing.T) {
	k := loadFixtures(t).Keys[0]
	dir := t.TempDir()
	path := filepath.Join(dir, "sui.key")
	if err := os.WriteFile(path, []byte(k.SuiPrivKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := LoadKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if s.Address().String() != k.Address {
		t.Fatalf("address %s, want %s", s.Address(), k.Address)
	}
	seed, _ := hex.DecodeString(k.SeedHex)
	for _, form := range []string{s.String(), fmt.Sprintf("%v %+v %#v %s", s, s, s, s)} {
		if strings.Contains(form, k.SuiPrivKey) || strings.Contains(form, k.Keystore) || strings.Contains(form, hex.EncodeToString(seed)) {
			t.Fatalf("the key appears in its printed form %q", form)
		}
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKeyFile(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a group-readable key file: %v", err)
	}
	if _, err := LoadKeyFile(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("a missing key file loaded")
	}
}

func TestParseRPCURL(t *testing.T) {
	for _, tc := range []struct {
		url    string
		target string
		secure bool
		ok     bool
	}{
		{"https://fullnode.mainnet.sui.io:443", "fullnode.mainnet.sui.io:443", true, true},
		{"https://fullnode.testnet.sui.io", "fullnode.testnet.sui.io:443", true, true},
		{"http://127.0.0.1:9000", "127.0.0.1:9000", false, true},
		{"http://localhost:9000", "localhost:9000", false, true},
		{"http://[::1]:9000", "[::1]:9000", false, true},
		{"http://fullnode.mainnet.sui.io:443", "", false, false},
		{"http://10.0.0.1:9000", "", false, false},
		{"http://127.0.0.1", "", false, false},
		{"grpc://127.0.0.1:9000", "", false, false},
		{"fullnode.mainnet.sui.io:443", "", false, false},
		{"https://node/path", "", false, false},
	} {
		target, secure, err := parseRPCURL(tc.url)
		if (err == nil) != tc.ok || target != tc.target || secure != tc.secure {
			t.Errorf("%s: %q %v %v", tc.url, target, secure, err)
		}
	}
}
