package sui

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"strconv"
	"testing"
	"time"
)

// The fixtures were made by the official TypeScript SDKs (@mysten/sui and
// @mysten/walrus; scripts/vectors/gen_chain_fixtures.mjs). Every builder
// and parser here must reproduce them byte for byte.
type fixtures struct {
	Keys []struct {
		SeedHex      string `json:"seed_hex"`
		SuiPrivKey   string `json:"suiprivkey"`
		Keystore     string `json:"keystore"`
		PublicKeyB64 string `json:"public_key_base64"`
		Address      string `json:"address"`
	} `json:"keys"`
	Transactions []struct {
		Name          string          `json:"name"`
		Key           int             `json:"key"`
		Params        json.RawMessage `json:"params"`
		Gas           fixtureGas      `json:"gas"`
		Expiration    fixtureExp      `json:"expiration"`
		TxBytes       string          `json:"tx_bytes_base64"`
		Digest        string          `json:"digest"`
		SigningDigest string          `json:"signing_digest_hex"`
		Signature     string          `json:"signature_base64"`
	} `json:"transactions"`
	Objects []struct {
		Name     string          `json:"name"`
		Type     string          `json:"type"`
		Fields   json.RawMessage `json:"fields"`
		Contents string          `json:"contents_base64"`
	} `json:"objects"`
	DynamicFields []struct {
		Name    string `json:"name"`
		Parent  string `json:"parent"`
		KeyType string `json:"key_type"`
		KeyBCS  string `json:"key_bcs_base64"`
		ID      string `json:"id"`
	} `json:"dynamic_fields"`
	TypeTags []struct {
		Type string `json:"type"`
		BCS  string `json:"bcs_base64"`
	} `json:"type_tags"`
}

type fixtureRef struct {
	ObjectID string `json:"objectId"`
	Version  string `json:"version"`
	Digest   string `json:"digest"`
}

type fixtureGas struct {
	Payment []fixtureRef `json:"payment"`
	Owner   string       `json:"owner"`
	Price   string       `json:"price"`
	Budget  string       `json:"budget"`
}

type fixtureExp struct {
	Kind     string  `json:"kind"`
	Epoch    string  `json:"epoch"`
	MinEpoch *string `json:"minEpoch"`
	MaxEpoch *string `json:"maxEpoch"`
	MinTime  *string `json:"minTimestamp"`
	MaxTime  *string `json:"maxTimestamp"`
	Chain    string  `json:"chain"`
	Nonce    uint32  `json:"nonce"`
}

func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	b, err := os.ReadFile("testdata/chain_fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f fixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

func u64(t testing.TB, s string) uint64 {
	t.Helper()
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (r fixtureRef) ref(t testing.TB) ObjectRef {
	t.Helper()
	d, err := ParseDigest(r.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return ObjectRef{ID: MustAddress(r.ObjectID), Version: u64(t, r.Version), Digest: d}
}

func refs(t testing.TB, rs []fixtureRef) []ObjectRef {
	var out []ObjectRef
	for _, r := range rs {
		out = append(out, r.ref(t))
	}
	return out
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestFixtureKeys(t *testing.T) {
	for i, k := range loadFixtures(t).Keys {
		seed, _ := hex.DecodeString(k.SeedHex)
		want := NewSigner(seed)
		if got := want.Address().String(); got != k.Address {
			t.Errorf("key %d: address %s, want %s", i, got, k.Address)
		}
		if got := base64.StdEncoding.EncodeToString(want.PublicKey()); got != k.PublicKeyB64 {
			t.Errorf("key %d: public key %s, want %s", i, got, k.PublicKeyB64)
		}
		enc, err := want.EncodePrivateKey()
		if err != nil || enc != k.SuiPrivKey {
			t.Errorf("key %d: suiprivkey differs from the SDK's (%v)", i, err)
		}
		for _, form := range []string{k.SuiPrivKey, k.Keystore, `["` + k.Keystore + `"]`} {
			s, err := ParsePrivateKey(form)
			if err != nil {
				t.Errorf("key %d: %v", i, err)
				continue
			}
			if s.Address() != want.Address() {
				t.Errorf("key %d: parsed to address %s", i, s.Address())
			}
		}
	}
}

// buildFixture rebuilds a fixture transaction with the same calls
// walrusfs makes.
func buildFixture(t *testing.T, name string, params json.RawMessage, sender Address) *Builder {
	var p struct {
		Package string `json:"package"`
		System  struct {
			ObjectID string `json:"objectId"`
			Version  string `json:"initialSharedVersion"`
			Mutable  bool   `json:"mutable"`
		} `json:"system"`
		WALType    string       `json:"wal_type"`
		WALCoins   []fixtureRef `json:"wal_coins"`
		PaymentCap string       `json:"payment_cap"`
		Blobs      []fixtureRef `json:"blobs"`
		Epochs     json.RawMessage
		Withdrawal struct {
			Amount string `json:"amount"`
		} `json:"withdrawal"`
		Amount     string     `json:"amount"`
		Recipient  string     `json:"recipient"`
		ExtendBlob fixtureRef `json:"extend_blob"`
		DeleteBlob fixtureRef `json:"delete_blob"`
	}
	if err := json.Unmarshal(params, &p); err != nil {
		t.Fatal(err)
	}
	b := NewBuilder()
	var calls Calls
	if p.Package != "" {
		calls.Package = MustAddress(p.Package)
	}
	if p.System.ObjectID != "" {
		calls.System = SharedObject{ID: MustAddress(p.System.ObjectID), InitialVersion: u64(t, p.System.Version)}
	}
	if p.WALType != "" {
		calls.WALType = MustTypeTag(p.WALType)
	}
	epochList := func() []uint32 {
		var e []uint32
		if err := json.Unmarshal(p.Epochs, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	epochOne := func() uint32 {
		var e uint32
		if err := json.Unmarshal(p.Epochs, &e); err != nil {
			t.Fatal(err)
		}
		return e
	}
	extensions := func() []Extension {
		var exts []Extension
		for i, e := range epochList() {
			exts = append(exts, Extension{Blob: p.Blobs[i].ref(t), Epochs: e})
		}
		return exts
	}
	switch name {
	case "renew_coins", "renew_one_coin":
		calls.Extend(b, sender, WALSource{Coins: refs(t, p.WALCoins)}, u64(t, p.PaymentCap), extensions())
	case "renew_address_balance":
		calls.Extend(b, sender, WALSource{FromBalance: true}, u64(t, p.Withdrawal.Amount), extensions())
	case "delete_blobs":
		calls.Delete(b, refs(t, p.Blobs))
	case "burn_blobs":
		calls.Burn(b, refs(t, p.Blobs))
	case "merge_wal":
		MergeCoins(b, refs(t, p.WALCoins))
	case "transfer_sui":
		Transfer(b, GasCoin, u64(t, p.Amount), MustAddress(p.Recipient))
	case "transfer_wal":
		Transfer(b, b.Owned(p.WALCoins[0].ref(t)), u64(t, p.Amount), MustAddress(p.Recipient))
	case "extend_and_delete_mixed", "extend_and_delete_mixed_reversed":
		extend := func() {
			b.MoveCall(calls.Package, "system", "extend_blob", nil,
				b.Shared(calls.System, true), b.Owned(p.ExtendBlob.ref(t)), b.U32(epochOne()), b.Owned(p.WALCoins[0].ref(t)))
		}
		if name == "extend_and_delete_mixed" {
			extend()
		}
		calls.Delete(b, []ObjectRef{p.DeleteBlob.ref(t)})
		if name != "extend_and_delete_mixed" {
			extend()
		}
	case "pure_dedup":
		for _, blob := range p.Blobs {
			b.MoveCall(calls.Package, "system", "extend_blob", nil,
				b.Shared(calls.System, true), b.Owned(blob.ref(t)), b.U32(epochOne()), b.Owned(p.WALCoins[0].ref(t)))
		}
	default:
		t.Fatalf("fixture %s: no builder for this shape", name)
	}
	return b
}

func (e fixtureExp) expiration(t *testing.T) Expiration {
	opt := func(s *string) *uint64 {
		if s == nil {
			return nil
		}
		v := u64(t, *s)
		return &v
	}
	switch e.Kind {
	case "None":
		return Expiration{}
	case "Epoch":
		return Expiration{Kind: ExpireEpoch, Epoch: u64(t, e.Epoch)}
	case "ValidDuring":
		chain, err := ParseDigest(e.Chain)
		if err != nil {
			t.Fatal(err)
		}
		return Expiration{Kind: ExpireValidDuring, ValidDuring: ValidDuring{
			MinEpoch: opt(e.MinEpoch), MaxEpoch: opt(e.MaxEpoch), MinTimestamp: opt(e.MinTime), MaxTimestamp: opt(e.MaxTime),
			Chain: chain, Nonce: e.Nonce,
		}}
	}
	t.Fatalf("expiration kind %q", e.Kind)
	return Expiration{}
}

func TestFixtureTransactions(t *testing.T) {
	f := loadFixtures(t)
	if len(f.Transactions) < 9 {
		t.Fatalf("only %d fixture transactions", len(f.Transactions))
	}
	for _, fx := range f.Transactions {
		t.Run(fx.Name, func(t *testing.T) {
			k := f.Keys[fx.Key]
			seed, _ := hex.DecodeString(k.SeedHex)
			signer := NewSigner(seed)
			b := buildFixture(t, fx.Name, fx.Params, signer.Address())
			gas := GasData{Payment: refs(t, fx.Gas.Payment), Owner: MustAddress(fx.Gas.Owner), Price: u64(t, fx.Gas.Price), Budget: u64(t, fx.Gas.Budget)}
			tx, err := b.Build(signer.Address(), gas, fx.Expiration.expiration(t))
			if err != nil {
				t.Fatal(err)
			}
			want := b64(t, fx.TxBytes)
			if !bytes.Equal(tx.Bytes, want) {
				t.Fatalf("bytes differ from the SDK's:\n got %x\nwant %x", tx.Bytes, want)
			}
			if tx.Digest.String() != fx.Digest {
				t.Errorf("digest %s, want %s", tx.Digest, fx.Digest)
			}
			if d := SigningDigest(tx.Bytes); hex.EncodeToString(d[:]) != fx.SigningDigest {
				t.Errorf("signing digest %x, want %s", d, fx.SigningDigest)
			}
			if sig := signer.SignBase64(tx.Bytes); sig != fx.Signature {
				t.Errorf("signature %s, want %s", sig, fx.Signature)
			}
			if addr, ok := VerifySignature(tx.Bytes, b64(t, fx.Signature)); !ok || addr != signer.Address() {
				t.Errorf("the SDK's signature does not verify here (%v, %s)", ok, addr)
			}
		})
	}
}

func TestFixtureDynamicFields(t *testing.T) {
	for _, df := range loadFixtures(t).DynamicFields {
		kt, err := ParseTypeTag(df.KeyType)
		if err != nil {
			t.Fatal(err)
		}
		if got := DynamicFieldID(MustAddress(df.Parent), kt, b64(t, df.KeyBCS)).String(); got != df.ID {
			t.Errorf("%s: %s, want %s", df.Name, got, df.ID)
		}
	}
}

func TestFixtureTypeTags(t *testing.T) {
	for _, tt := range loadFixtures(t).TypeTags {
		tag, err := ParseTypeTag(tt.Type)
		if err != nil {
			t.Fatal(err)
		}
		var w bcsWriter
		w.typeTag(tag)
		if want := b64(t, tt.BCS); !bytes.Equal(w.buf, want) {
			t.Errorf("%s: %x, want %x", tt.Type, w.buf, want)
		}
		r := newBCSReader(w.buf)
		back := r.typeTag(0)
		if err := r.done("TypeTag"); err != nil || !back.Equal(tag) {
			t.Errorf("%s: read back as %s (%v)", tt.Type, back, err)
		}
	}
}

// u256 turns the SDK's decimal u256 into its 32 little-endian bytes.
func u256(t *testing.T, s string) [32]byte {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		t.Fatalf("u256 %q", s)
	}
	var out [32]byte
	be := n.FillBytes(make([]byte, 32))
	for i := range be {
		out[i] = be[31-i]
	}
	return out
}

func TestFixtureObjects(t *testing.T) {
	type storageJSON struct {
		ID          string `json:"id"`
		StartEpoch  uint32 `json:"start_epoch"`
		EndEpoch    uint32 `json:"end_epoch"`
		StorageSize string `json:"storage_size"`
	}
	checkStorage := func(t *testing.T, got Storage, want storageJSON) {
		if got != (Storage{ID: MustAddress(want.ID), StartEpoch: want.StartEpoch, EndEpoch: want.EndEpoch, StorageSize: u64(t, want.StorageSize)}) {
			t.Errorf("storage %+v, want %+v", got, want)
		}
	}
	seen := map[string]bool{}
	for _, o := range loadFixtures(t).Objects {
		t.Run(o.Name, func(t *testing.T) {
			contents := b64(t, o.Contents)
			seen[o.Name] = true
			switch o.Name {
			case "blob_uncertified", "blob_certified":
				var w struct {
					ID        string      `json:"id"`
					Reg       uint32      `json:"registered_epoch"`
					BlobID    string      `json:"blob_id"`
					Size      string      `json:"size"`
					Encoding  uint8       `json:"encoding_type"`
					Certified *uint32     `json:"certified_epoch"`
					Storage   storageJSON `json:"storage"`
					Deletable bool        `json:"deletable"`
				}
				mustJSON(t, o.Fields, &w)
				b, err := ParseBlob(contents)
				if err != nil {
					t.Fatal(err)
				}
				if b.ID != MustAddress(w.ID) || b.RegisteredEpoch != w.Reg || b.BlobID != u256(t, w.BlobID) ||
					b.Size != u64(t, w.Size) || b.EncodingType != w.Encoding || b.Deletable != w.Deletable {
					t.Errorf("blob %+v, want %+v", b, w)
				}
				if (b.CertifiedEpoch == nil) != (w.Certified == nil) || (w.Certified != nil && *b.CertifiedEpoch != *w.Certified) {
					t.Errorf("certified epoch %v, want %v", b.CertifiedEpoch, w.Certified)
				}
				checkStorage(t, b.Storage, w.Storage)
			case "storage":
				var w storageJSON
				mustJSON(t, o.Fields, &w)
				s, err := ParseStorage(contents)
				if err != nil {
					t.Fatal(err)
				}
				checkStorage(t, s, w)
			case "system", "system_v4_upgrade", "staking":
				var w struct {
					ID      string  `json:"id"`
					Version string  `json:"version"`
					Package string  `json:"package_id"`
					New     *string `json:"new_package_id"`
				}
				mustJSON(t, o.Fields, &w)
				parse := ParseSystem
				if o.Name == "staking" {
					parse = ParseStaking
				}
				v, err := parse(contents)
				if err != nil {
					t.Fatal(err)
				}
				if v.ID != MustAddress(w.ID) || v.Version != u64(t, w.Version) || v.PackageID != MustAddress(w.Package) ||
					(v.NewPackageID == nil) != (w.New == nil) || (w.New != nil && *v.NewPackageID != MustAddress(*w.New)) {
					t.Errorf("%+v, want %+v", v, w)
				}
			case "system_inner_field":
				var w struct {
					Name  string          `json:"name"`
					Value systemInnerJSON `json:"value"`
				}
				mustJSON(t, o.Fields, &w)
				s, err := ParseSystemInner(contents, u64(t, w.Name))
				if err != nil {
					t.Fatal(err)
				}
				w.Value.check(t, s)
				if _, err := ParseSystemInner(contents, u64(t, w.Name)+1); err == nil {
					t.Error("a field of another version was accepted")
				}
			case "staking_inner_field":
				var w struct {
					Name  string           `json:"name"`
					Value stakingInnerJSON `json:"value"`
				}
				mustJSON(t, o.Fields, &w)
				s, err := ParseStakingInner(contents, u64(t, w.Name))
				if err != nil {
					t.Fatal(err)
				}
				w.Value.check(t, s)
				if contents[98] != byte(s.Epoch) {
					t.Errorf("epoch is not at byte 98 of the field")
				}
			case "staking_inner_epoch_state_sync", "staking_inner_epoch_state_done", "staking_inner_epoch_state_params_selected", "staking_inner_v1", "system_inner_v1":
				// The bare values: the parsers read the field objects, so
				// wrap the value as the field would hold it.
				var field bcsWriter
				id := MustAddress("0x1234")
				field.fixed(id[:])
				field.u64(3)
				field.fixed(contents)
				if o.Name == "system_inner_v1" {
					var w systemInnerJSON
					mustJSON(t, o.Fields, &w)
					s, err := ParseSystemInner(field.buf, 3)
					if err != nil {
						t.Fatal(err)
					}
					w.check(t, s)
					return
				}
				var w stakingInnerJSON
				mustJSON(t, o.Fields, &w)
				s, err := ParseStakingInner(field.buf, 3)
				if err != nil {
					t.Fatal(err)
				}
				w.check(t, s)
			case "staking_pool", "staking_pool_withdrawing":
				var w struct {
					ID     string            `json:"id"`
					State  map[string]any    `json:"state"`
					Voting map[string]string `json:"voting_params"`
					Node   struct {
						Name    string `json:"name"`
						Address string `json:"network_address"`
						PubKey  struct {
							Bytes []byte `json:"bytes"`
						} `json:"public_key"`
						NetKey []byte `json:"network_public_key"`
					} `json:"node_info"`
					Activation uint32 `json:"activation_epoch"`
				}
				mustJSON(t, o.Fields, &w)
				p, err := ParseStakingPool(contents)
				if err != nil {
					t.Fatal(err)
				}
				wantState := map[string]PoolState{"Active": PoolActive, "Withdrawing": PoolWithdrawing, "Withdrawn": PoolWithdrawn}[w.State["$kind"].(string)]
				if p.ID != MustAddress(w.ID) || p.State != wantState || p.Name != w.Node.Name || p.NetworkAddress != w.Node.Address ||
					!bytes.Equal(p.PublicKey, w.Node.PubKey.Bytes) || !bytes.Equal(p.NetworkPublicKey, w.Node.NetKey) ||
					p.StoragePrice != u64(t, w.Voting["storage_price"]) || p.WritePrice != u64(t, w.Voting["write_price"]) ||
					p.NodeCapacity != u64(t, w.Voting["node_capacity"]) || p.ActivationEpoch != w.Activation {
					t.Errorf("pool %+v, want %+v", p, w)
				}
				if p.State == PoolWithdrawing && float64(p.WithdrawingEpoch) != w.State["Withdrawing"].(float64) {
					t.Errorf("withdrawing epoch %d, want %v", p.WithdrawingEpoch, w.State["Withdrawing"])
				}
			case "coin_wal", "coin_sui":
				var w struct {
					ID      string `json:"id"`
					Balance struct {
						Value string `json:"value"`
					} `json:"balance"`
				}
				mustJSON(t, o.Fields, &w)
				c, err := ParseCoin(contents)
				if err != nil {
					t.Fatal(err)
				}
				if c.ID != MustAddress(w.ID) || c.Balance != u64(t, w.Balance.Value) {
					t.Errorf("coin %+v, want %+v", c, w)
				}
			case "blob_metadata_field":
				// Not read by walrusfs; its parsers must refuse it.
				if _, err := ParseBlob(contents); err == nil {
					t.Error("a metadata field parsed as a Blob")
				}
			default:
				t.Errorf("no check for fixture object %s", o.Name)
			}
		})
	}
	for _, name := range []string{"blob_uncertified", "blob_certified", "storage", "system", "system_inner_field", "staking_inner_field", "staking_pool", "coin_wal"} {
		if !seen[name] {
			t.Errorf("fixture object %s missing", name)
		}
	}
}

func mustJSON(t *testing.T, raw json.RawMessage, v any) {
	t.Helper()
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatal(err)
	}
}

type systemInnerJSON struct {
	Committee struct {
		Members []struct {
			PublicKey struct {
				Bytes []byte `json:"bytes"`
			} `json:"public_key"`
			Weight uint16 `json:"weight"`
			NodeID string `json:"node_id"`
		} `json:"members"`
		NShards uint16 `json:"n_shards"`
		Epoch   uint32 `json:"epoch"`
	} `json:"committee"`
	Total   string `json:"total_capacity_size"`
	Used    string `json:"used_capacity_size"`
	Storage string `json:"storage_price_per_unit_size"`
	Write   string `json:"write_price_per_unit_size"`
}

func (w systemInnerJSON) check(t *testing.T, s SystemState) {
	t.Helper()
	if s.Epoch != w.Committee.Epoch || s.NShards != w.Committee.NShards || s.TotalCapacity != u64(t, w.Total) ||
		s.UsedCapacity != u64(t, w.Used) || s.StoragePricePerUnit != u64(t, w.Storage) || s.WritePricePerUnit != u64(t, w.Write) {
		t.Errorf("system state %+v, want %+v", s, w)
	}
	if len(s.Members) != len(w.Committee.Members) {
		t.Fatalf("%d members, want %d", len(s.Members), len(w.Committee.Members))
	}
	for i, m := range w.Committee.Members {
		got := s.Members[i]
		if !bytes.Equal(got.PublicKey, m.PublicKey.Bytes) || got.Weight != m.Weight || got.NodeID != MustAddress(m.NodeID) {
			t.Errorf("member %d: %+v, want %+v", i, got, m)
		}
	}
}

type stakingInnerJSON struct {
	NShards    uint16 `json:"n_shards"`
	Duration   string `json:"epoch_duration"`
	FirstStart string `json:"first_epoch_start"`
	Epoch      uint32 `json:"epoch"`
	Committee  []struct {
		Contents []struct {
			Key   string   `json:"key"`
			Value []uint16 `json:"value"`
		} `json:"contents"`
	} `json:"committee"`
	NextParams *struct {
		Total   string `json:"total_capacity_size"`
		Storage string `json:"storage_price_per_unit_size"`
		Write   string `json:"write_price_per_unit_size"`
	} `json:"next_epoch_params"`
	EpochState map[string]any `json:"epoch_state"`
}

func (w stakingInnerJSON) check(t *testing.T, s StakingState) {
	t.Helper()
	if s.NShards != w.NShards || s.EpochDuration != time.Duration(u64(t, w.Duration))*time.Millisecond ||
		s.FirstEpochStart.UnixMilli() != int64(u64(t, w.FirstStart)) || s.Epoch != w.Epoch {
		t.Errorf("staking state %+v, want %+v", s, w)
	}
	shards := 0
	for _, e := range w.Committee[0].Contents {
		got := s.Shards[MustAddress(e.Key)]
		if len(got) != len(e.Value) {
			t.Errorf("node %s: %d shards, want %d", e.Key, len(got), len(e.Value))
		}
		shards += len(got)
	}
	if len(s.Shards) != len(w.Committee[0].Contents) || shards != int(w.NShards) {
		t.Errorf("committee of %d nodes with %d shards", len(s.Shards), shards)
	}
	if (s.NextParams == nil) != (w.NextParams == nil) ||
		(w.NextParams != nil && *s.NextParams != EpochParams{u64(t, w.NextParams.Total), u64(t, w.NextParams.Storage), u64(t, w.NextParams.Write)}) {
		t.Errorf("next params %+v, want %+v", s.NextParams, w.NextParams)
	}
	kind := w.EpochState["$kind"].(string)
	wantPhase := map[string]EpochPhase{"EpochChangeSync": EpochChangeSync, "EpochChangeDone": EpochChangeDone, "NextParamsSelected": NextParamsSelected}[kind]
	if s.Phase != wantPhase {
		t.Errorf("phase %d, want %s", s.Phase, kind)
	}
	if kind != "EpochChangeSync" {
		ms, _ := strconv.ParseInt(w.EpochState[kind].(string), 10, 64)
		if s.EpochStart.UnixMilli() != ms {
			t.Errorf("epoch start %v, want %d ms", s.EpochStart, ms)
		}
	}
}
