package suitest

import (
	"encoding/json"
	"os"
	"testing"
)

// TestFixtureReplay executes the shape of every SDK-built transaction on
// this chain: the same inputs and commands, with the Mainnet objects,
// package and WAL type swapped for this chain's, the gas paid the same
// way, and the sender's own key. Each must succeed.
func TestFixtureReplay(t *testing.T) {
	raw, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatal(err)
	}
	var fx struct {
		Transactions []struct {
			Name    string                     `json:"name"`
			TxBytes string                     `json:"tx_bytes_base64"`
			Params  map[string]json.RawMessage `json:"params"`
		} `json:"transactions"`
	}
	if err := json.Unmarshal(raw, &fx); err != nil {
		t.Fatal(err)
	}
	type ref struct {
		ObjectID Address `json:"objectId"`
	}
	for _, f := range fx.Transactions {
		t.Run(f.Name, func(t *testing.T) {
			cfg := testConfig()
			cfg.MaxEpochsAhead = 100 // renew_one_coin extends by 53, which Mainnet's limit of 53 can never allow
			e := newEnv(t, cfg)
			tx, err := DecodeTransaction(b64(t, f.TxBytes))
			if err != nil {
				t.Fatal(err)
			}
			roles := map[Address]string{}
			for key, v := range f.Params {
				var one ref
				var many []ref
				if json.Unmarshal(v, &many) == nil {
					for _, r := range many {
						roles[r.ObjectID] = key
					}
				} else if json.Unmarshal(v, &one) == nil && one.ObjectID != (Address{}) {
					roles[one.ObjectID] = key
				}
			}
			var mainnetPkg Address
			_ = json.Unmarshal(f.Params["package"], &mainnetPkg)
			var mainnetWAL string
			_ = json.Unmarshal(f.Params["wal_type"], &mainnetWAL)
			walType := e.c.walType()
			swapType := func(t TypeTag) TypeTag {
				if t.String() == mainnetWAL {
					return walType
				}
				return t
			}
			sys, isv := e.c.SystemObject()
			for i, in := range tx.Inputs {
				switch in.Kind {
				case ArgFundsWithdrawal:
					tx.Inputs[i].Withdrawal.Type = swapType(in.Withdrawal.Type)
					if err := e.c.Deposit(e.addr, walType.String(), 1<<54); err != nil {
						t.Fatal(err)
					}
				case ArgObject:
					if in.Object.Kind == ObjShared {
						tx.Inputs[i].Object.Ref.ID, tx.Inputs[i].Object.InitialSharedVersion = sys, isv
						continue
					}
					var id Address
					switch role := roles[in.Object.Ref.ID]; role {
					case "wal_coins":
						r, err := e.c.Mint(e.addr, walType.String(), 1<<54)
						if err != nil {
							t.Fatal(err)
						}
						id = r.ID
					case "blobs", "extend_blob", "delete_blob":
						var blobID [32]byte
						blobID[0] = byte(i)
						if id, err = e.c.CreateBlob(e.addr, blobID, 1000, 5, true, true); err != nil {
							t.Fatal(err)
						}
					default:
						t.Fatalf("input %d: object %s has no role in the params", i, in.Object.Ref.ID)
					}
					tx.Inputs[i].Object.Ref = e.ref(id)
				}
			}
			for _, c := range tx.Commands {
				if c.Kind == CmdMoveCall {
					if c.Call.Package == mainnetPkg {
						c.Call.Package = e.c.WalrusPackage()
					}
					for j, ta := range c.Call.TypeArgs {
						c.Call.TypeArgs[j] = swapType(ta)
					}
				}
			}
			tx.Sender, tx.Gas.Owner = e.addr, e.addr
			for j := range tx.Gas.Payment {
				r, err := e.c.Mint(e.addr, "0x2::sui::SUI", 10_000_000_000)
				if err != nil {
					t.Fatal(err)
				}
				tx.Gas.Payment[j] = r
			}
			if len(tx.Gas.Payment) == 0 {
				if err := e.c.Deposit(e.addr, "0x2::sui::SUI", 10_000_000_000); err != nil {
					t.Fatal(err)
				}
			}
			if tx.Expiration.Kind == ExpireValidDuring {
				ep := e.c.SuiEpoch()
				next := ep + 1
				tx.Expiration.MinEpoch, tx.Expiration.MaxEpoch, tx.Expiration.Chain = &ep, &next, e.c.ChainID()
			}
			b := &txb{e: e, tx: *tx}
			b.ok()
		})
	}
}
