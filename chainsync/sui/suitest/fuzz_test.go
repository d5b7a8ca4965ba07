package suitest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// FuzzDecodeTransaction: the decoder never panics, and whatever it accepts
// re-encodes to the same bytes (BCS is canonical, so accepting two
// encodings of one transaction would be a bug).
func FuzzDecodeTransaction(f *testing.F) {
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		f.Fatal(err)
	}
	var fx struct {
		Transactions []struct {
			TxBytes string `json:"tx_bytes_base64"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(b, &fx); err != nil {
		f.Fatal(err)
	}
	for _, t := range fx.Transactions {
		bs, err := base64.StdEncoding.DecodeString(t.TxBytes)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bs)
		f.Add(bs[:len(bs)-1])
	}
	f.Add([]byte{})
	f.Add([]byte{0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, data []byte) {
		tx, err := DecodeTransaction(data)
		if err != nil {
			return
		}
		if got := tx.Encode(); string(got) != string(data) {
			t.Fatalf("accepted %x but re-encodes to %x", data, got)
		}
	})
}

// TestDecodeRejects checks that malformed transactions are refused with an
// error, not a panic and not silently.
func TestDecodeRejects(t *testing.T) {
	f := loadFixtures(t)
	good := b64(t, f.Transactions[0].TxBytes)
	cases := map[string][]byte{
		"empty":              {},
		"truncated":          good[:len(good)-1],
		"trailing byte":      append(append([]byte{}, good...), 0),
		"TransactionData V2": append([]byte{1}, good[1:]...),
		"not programmable":   append([]byte{0, 1}, good[2:]...),
		"CallArg variant 3":  append([]byte{0, 0, 1, 3}, good[4:]...),
		"non-canonical ULEB": append([]byte{0, 0, 0x8a, 0x00}, good[3:]...),
	}
	for name, bs := range cases {
		if _, err := DecodeTransaction(bs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A MakeMoveVec command is refused by name.
	tx, err := DecodeTransaction(good)
	if err != nil {
		t.Fatal(err)
	}
	tx.Commands = append(tx.Commands, Command{Kind: CmdMakeMoveVec}) // encoded as its tag alone
	if _, err := DecodeTransaction(tx.Encode()); err == nil || !strings.Contains(err.Error(), "MakeMoveVec is not supported") {
		t.Errorf("MakeMoveVec: %v", err)
	}
}

// FuzzSimulate: whatever transaction passes the checks, execution never
// panics. The seeds are real transactions on a funded chain, so mutations
// reach the executor with valid object references.
func FuzzSimulate(f *testing.F) {
	e := newEnvTB(f, testConfig()).fund()
	obj, id := e.register(1000, 3, true)
	seeds := []*txb{e.extendTx(obj, 1), e.deleteTx(obj), e.reserveTx(1<<20, 2), e.certTx(obj, id, &obj, []int{0, 1, 2, 3})}
	b := e.build()
	b.transfer(Address{1}, b.split(b.obj(e.wal), b.u64(1)), b.split(Argument{Kind: ArgGasCoin}, b.u64(2)))
	seeds = append(seeds, b)
	for _, s := range seeds {
		f.Add(s.tx.Encode())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if _, err := DecodeTransaction(data); err != nil {
			return
		}
		_, _ = e.c.executeSigned(data, nil, true)
	})
}
