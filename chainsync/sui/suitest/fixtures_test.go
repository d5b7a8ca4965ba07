package suitest

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"testing"
)

// The fixtures come from the official TypeScript SDKs (sui-ts 2.33.1 and
// walrus-ts 1.2.13); see their "notes" array.
const fixturePath = "../testdata/chain_fixtures.json"

type fixtures struct {
	Keys []struct {
		Address string `json:"address"`
	} `json:"keys"`
	Transactions []struct {
		Name      string `json:"name"`
		Key       int    `json:"key"`
		TxBytes   string `json:"tx_bytes_base64"`
		Digest    string `json:"digest"`
		SigningHx string `json:"signing_digest_hex"`
		Signature string `json:"signature_base64"`
		Decoded   any    `json:"decoded"`
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
	Events []struct {
		Name   string          `json:"name"`
		Type   string          `json:"type"`
		Fields json.RawMessage `json:"fields"`
		BCS    string          `json:"bcs_base64"`
	} `json:"events"`
	TypeTags []struct {
		Type       string `json:"type"`
		BCS        string `json:"bcs_base64"`
		Normalized string `json:"normalized"`
	} `json:"type_tags"`
}

func loadFixtures(t testing.TB) *fixtures {
	t.Helper()
	b, err := os.ReadFile(fixturePath)
	if err != nil {
		t.Fatalf("fixtures: %v", err)
	}
	var f fixtures
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("fixtures: %v", err)
	}
	return &f
}

func b64(t testing.TB, s string) []byte {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestFixtureTransactions decodes every SDK-built transaction to what
// sui-ts parses, and checks its digest and signature.
func TestFixtureTransactions(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.Transactions {
		t.Run(fx.Name, func(t *testing.T) {
			bs := b64(t, fx.TxBytes)
			tx, err := DecodeTransaction(bs)
			if err != nil {
				t.Fatal(err)
			}
			got := roundJSON(t, suiTSJSON(tx))
			if !reflect.DeepEqual(got, fx.Decoded) {
				g, _ := json.MarshalIndent(got, "", " ")
				w, _ := json.MarshalIndent(fx.Decoded, "", " ")
				t.Fatalf("decoded\n%s\nwant\n%s", g, w)
			}
			if d := TransactionDigest(bs).String(); d != fx.Digest {
				t.Fatalf("digest %s, want %s", d, fx.Digest)
			}
			if h := hex.EncodeToString(signingDigest(bs)); h != fx.SigningHx {
				t.Fatalf("signing digest %s, want %s", h, fx.SigningHx)
			}
			signer, err := VerifySignature(bs, b64(t, fx.Signature))
			if err != nil {
				t.Fatal(err)
			}
			if signer.String() != f.Keys[fx.Key].Address || signer != tx.Sender {
				t.Fatalf("signer %s, want %s (sender %s)", signer, f.Keys[fx.Key].Address, tx.Sender)
			}
			if string(tx.Encode()) != string(bs) {
				t.Fatal("re-encoding differs")
			}
			bad := append([]byte{}, bs...)
			bad[len(bad)/2] ^= 1
			if _, err := VerifySignature(bad, b64(t, fx.Signature)); err == nil {
				t.Fatal("signature verifies over altered bytes")
			}
		})
	}
}

func roundJSON(t testing.TB, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

type obj = map[string]any

func variant(name string, v any) obj { return obj{name: v, "$kind": name} }

func u64s(v uint64) string { return strconv.FormatUint(v, 10) }

func optU64s(v *uint64) any {
	if v == nil {
		return nil
	}
	return u64s(*v)
}

// suiTSJSON renders a transaction the way sui-ts bcs.TransactionData.parse
// does: enums as {Variant: value, $kind}, u64 as strings, addresses
// normalized, digests in base58, pure bytes in base64.
func suiTSJSON(tx *Transaction) any {
	arg := func(a Argument) obj {
		switch a.Kind {
		case ArgGasCoin:
			return variant("GasCoin", true)
		case ArgInput:
			return variant("Input", a.Index)
		case ArgResult:
			return variant("Result", a.Index)
		}
		return variant("NestedResult", []uint16{a.Index, a.Sub})
	}
	args := func(as []Argument) []any {
		out := []any{}
		for _, a := range as {
			out = append(out, arg(a))
		}
		return out
	}
	ref := func(r ObjectRef) obj {
		return obj{"objectId": r.ID.String(), "version": u64s(r.Version), "digest": r.Digest.String()}
	}
	inputs := []any{}
	for _, in := range tx.Inputs {
		switch in.Kind {
		case ArgPure:
			inputs = append(inputs, variant("Pure", obj{"bytes": base64.StdEncoding.EncodeToString(in.Pure)}))
		case ArgObject:
			var o obj
			switch in.Object.Kind {
			case ObjImmOrOwned:
				o = variant("ImmOrOwnedObject", ref(in.Object.Ref))
			case ObjShared:
				o = variant("SharedObject", obj{"objectId": in.Object.Ref.ID.String(), "initialSharedVersion": u64s(in.Object.InitialSharedVersion), "mutable": in.Object.Mutable})
			default:
				o = variant("Receiving", ref(in.Object.Ref))
			}
			inputs = append(inputs, variant("Object", o))
		case ArgFundsWithdrawal:
			w := in.Withdrawal
			var from obj
			switch w.From {
			case WithdrawFromSender:
				from = variant("Sender", true)
			case WithdrawFromSponsor:
				from = variant("Sponsor", true)
			default:
				from = variant("SenderAllowance", obj{"funder": w.Funder.String(), "allowance": w.Allowance.String()})
			}
			inputs = append(inputs, variant("FundsWithdrawal", obj{
				"reservation":  variant("MaxAmountU64", u64s(w.MaxAmount)),
				"typeArg":      variant("Balance", w.Type.String()),
				"withdrawFrom": from,
			}))
		}
	}
	commands := []any{}
	for _, c := range tx.Commands {
		switch c.Kind {
		case CmdMoveCall:
			ts := []any{}
			for _, t := range c.Call.TypeArgs {
				ts = append(ts, t.String())
			}
			commands = append(commands, variant("MoveCall", obj{"package": c.Call.Package.String(), "module": c.Call.Module,
				"function": c.Call.Function, "typeArguments": ts, "arguments": args(c.Call.Args)}))
		case CmdTransferObjects:
			commands = append(commands, variant("TransferObjects", obj{"objects": args(c.Objects), "address": arg(c.Receiver)}))
		case CmdSplitCoins:
			commands = append(commands, variant("SplitCoins", obj{"coin": arg(c.Coin), "amounts": args(c.Amounts)}))
		case CmdMergeCoins:
			commands = append(commands, variant("MergeCoins", obj{"destination": arg(c.Coin), "sources": args(c.Amounts)}))
		}
	}
	payment := []any{}
	for _, p := range tx.Gas.Payment {
		payment = append(payment, ref(p))
	}
	var exp obj
	e := tx.Expiration
	switch e.Kind {
	case ExpireNone:
		exp = variant("None", true)
	case ExpireEpoch:
		exp = variant("Epoch", e.Epoch)
	default:
		vd := obj{"minEpoch": optU64s(e.MinEpoch), "maxEpoch": optU64s(e.MaxEpoch), "minTimestamp": optU64s(e.MinTimestamp),
			"maxTimestamp": optU64s(e.MaxTimestamp), "chain": e.Chain.String(), "nonce": e.Nonce}
		name := "ValidDuring"
		if e.Kind == ExpireValidity {
			name = "Validity"
			vd["allowedProposers"] = nil
			if e.ProposersEpoch != nil {
				vd["allowedProposers"] = obj{"epoch": u64s(*e.ProposersEpoch), "proposers": e.Proposers}
			}
		}
		exp = variant(name, vd)
	}
	return variant("V1", obj{
		"kind":       variant("ProgrammableTransaction", obj{"inputs": inputs, "commands": commands}),
		"sender":     tx.Sender.String(),
		"gasData":    obj{"payment": payment, "owner": tx.Gas.Owner.String(), "price": u64s(tx.Gas.Price), "budget": u64s(tx.Gas.Budget)},
		"expiration": exp,
	})
}

// Move values as walrus-ts parses them, made JSON-safe (see the fixture
// notes): u64 and u256 as decimal strings, IDs as hex, Option as null.

type jsonU64 uint64

func (v *jsonU64) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n uint64
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*v = jsonU64(n)
		return nil
	}
	n, err := strconv.ParseUint(s, 10, 64)
	*v = jsonU64(n)
	return err
}

type jsonU256 [32]byte

func (v *jsonU256) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return strconv.ErrSyntax
	}
	le, ok := u256FromBig(n)
	if !ok {
		return strconv.ErrRange
	}
	*v = le
	return nil
}

type jsonElement struct {
	Bytes []int `json:"bytes"`
}

func ints(v []int) []byte {
	out := make([]byte, len(v))
	for i, x := range v {
		out[i] = byte(x)
	}
	return out
}

type jsonStorage struct {
	ID    Address `json:"id"`
	Start uint32  `json:"start_epoch"`
	End   uint32  `json:"end_epoch"`
	Size  jsonU64 `json:"storage_size"`
}

func (s jsonStorage) fields() StorageFields {
	return StorageFields{ID: s.ID, StartEpoch: s.Start, EndEpoch: s.End, Size: uint64(s.Size)}
}

type jsonBlob struct {
	ID         Address     `json:"id"`
	Registered uint32      `json:"registered_epoch"`
	BlobID     jsonU256    `json:"blob_id"`
	Size       jsonU64     `json:"size"`
	Encoding   uint8       `json:"encoding_type"`
	Certified  *uint32     `json:"certified_epoch"`
	Storage    jsonStorage `json:"storage"`
	Deletable  bool        `json:"deletable"`
}

type jsonVersioned struct {
	ID         Address  `json:"id"`
	Version    jsonU64  `json:"version"`
	PackageID  Address  `json:"package_id"`
	NewPackage *Address `json:"new_package_id"`
}

type jsonSystemInner struct {
	Committee struct {
		Members []struct {
			PublicKey jsonElement `json:"public_key"`
			Weight    uint16      `json:"weight"`
			NodeID    Address     `json:"node_id"`
		} `json:"members"`
		NShards  uint16      `json:"n_shards"`
		Epoch    uint32      `json:"epoch"`
		TotalKey jsonElement `json:"total_aggregated_key"`
	} `json:"committee"`
	Total   jsonU64 `json:"total_capacity_size"`
	Used    jsonU64 `json:"used_capacity_size"`
	SPrice  jsonU64 `json:"storage_price_per_unit_size"`
	WPrice  jsonU64 `json:"write_price_per_unit_size"`
	Account struct {
		Index  uint32 `json:"current_index"`
		Length uint32 `json:"length"`
		Ring   []struct {
			Epoch   uint32  `json:"epoch"`
			Used    jsonU64 `json:"used_capacity"`
			Rewards struct {
				Value jsonU64 `json:"value"`
			} `json:"rewards_to_distribute"`
		} `json:"ring_buffer"`
	} `json:"future_accounting"`
	EventBlobs struct {
		Latest *struct {
			BlobID jsonU256 `json:"blob_id"`
			End    jsonU64  `json:"ending_checkpoint_sequence_number"`
		} `json:"latest_certified_blob"`
		Weights struct {
			Contents []struct {
				Key struct {
					BlobID jsonU256 `json:"blob_id"`
					End    jsonU64  `json:"ending_checkpoint_sequence_number"`
				} `json:"key"`
				Value uint16 `json:"value"`
			} `json:"contents"`
		} `json:"aggregate_weight_per_blob"`
	} `json:"event_blob_certification_state"`
	DenyList struct {
		ID Address `json:"id"`
	} `json:"deny_list_sizes"`
}

func (j jsonSystemInner) fields() SystemStateInner {
	s := SystemStateInner{NShards: j.Committee.NShards, Epoch: j.Committee.Epoch, TotalKey: ints(j.Committee.TotalKey.Bytes),
		TotalCapacity: uint64(j.Total), UsedCapacity: uint64(j.Used), StoragePrice: uint64(j.SPrice), WritePrice: uint64(j.WPrice),
		RingIndex: j.Account.Index, RingLength: j.Account.Length, DenyListID: j.DenyList.ID}
	for _, m := range j.Committee.Members {
		s.Members = append(s.Members, BlsMember{PublicKey: ints(m.PublicKey.Bytes), Weight: m.Weight, NodeID: m.NodeID})
	}
	for _, a := range j.Account.Ring {
		s.Ring = append(s.Ring, FutureAccounting{Epoch: a.Epoch, Used: uint64(a.Used), Rewards: uint64(a.Rewards.Value)})
	}
	if l := j.EventBlobs.Latest; l != nil {
		s.LatestEventBlob = &EventBlob{BlobID: l.BlobID, EndingCheckpoint: uint64(l.End)}
	}
	for _, e := range j.EventBlobs.Weights.Contents {
		s.EventBlobWeights = append(s.EventBlobWeights, EventBlobWeight{Blob: EventBlob{BlobID: e.Key.BlobID, EndingCheckpoint: uint64(e.Key.End)}, Weight: e.Value})
	}
	return s
}

type jsonCommittee []struct {
	Contents []struct {
		Key   Address  `json:"key"`
		Value []uint16 `json:"value"`
	} `json:"contents"`
}

func (c jsonCommittee) entries() []CommitteeEntry {
	out := []CommitteeEntry{}
	for _, e := range c[0].Contents {
		out = append(out, CommitteeEntry{NodeID: e.Key, Shards: e.Value})
	}
	return out
}

type jsonStakingInner struct {
	NShards       uint16  `json:"n_shards"`
	EpochDuration jsonU64 `json:"epoch_duration"`
	FirstStart    jsonU64 `json:"first_epoch_start"`
	Pools         struct {
		ID   Address `json:"id"`
		Size jsonU64 `json:"size"`
	} `json:"pools"`
	Epoch     uint32 `json:"epoch"`
	ActiveSet struct {
		ID Address `json:"id"`
	} `json:"active_set"`
	Next       jsonCommittee `json:"next_committee"`
	Committee  jsonCommittee `json:"committee"`
	Previous   jsonCommittee `json:"previous_committee"`
	NextParams *struct {
		Total  jsonU64 `json:"total_capacity_size"`
		SPrice jsonU64 `json:"storage_price_per_unit_size"`
		WPrice jsonU64 `json:"write_price_per_unit_size"`
	} `json:"next_epoch_params"`
	EpochState map[string]json.RawMessage `json:"epoch_state"`
	NextKeys   struct {
		ID Address `json:"id"`
	} `json:"next_epoch_public_keys"`
}

func (j jsonStakingInner) fields(t *testing.T) StakingInner {
	s := StakingInner{NShards: j.NShards, EpochDuration: uint64(j.EpochDuration), FirstEpochStart: uint64(j.FirstStart),
		PoolsID: j.Pools.ID, PoolsSize: uint64(j.Pools.Size), Epoch: j.Epoch, ActiveSetID: j.ActiveSet.ID,
		Committee: j.Committee.entries(), PreviousCommittee: j.Previous.entries(), NextKeysID: j.NextKeys.ID}
	if j.Next != nil {
		s.HasNextCommittee, s.NextCommittee = true, j.Next.entries()
	}
	if p := j.NextParams; p != nil {
		s.NextEpochParams = &EpochParams{TotalCapacity: uint64(p.Total), StoragePrice: uint64(p.SPrice), WritePrice: uint64(p.WPrice)}
	}
	var kind string
	if err := json.Unmarshal(j.EpochState["$kind"], &kind); err != nil {
		t.Fatal(err)
	}
	var v jsonU64
	if err := json.Unmarshal(j.EpochState[kind], &v); err != nil {
		t.Fatal(err)
	}
	s.EpochState.Value = uint64(v)
	switch kind {
	case "EpochChangeSync":
		s.EpochState.Kind = EpochChangeSync
	case "EpochChangeDone":
		s.EpochState.Kind = EpochChangeDone
	case "NextParamsSelected":
		s.EpochState.Kind = NextParamsSelected
	default:
		t.Fatalf("epoch state %q", kind)
	}
	return s
}

type jsonPending []struct {
	Contents []struct {
		Key   uint32  `json:"key"`
		Value jsonU64 `json:"value"`
	} `json:"contents"`
}

func (p jsonPending) entries() []PendingEntry {
	var out []PendingEntry
	for _, e := range p[0].Contents {
		out = append(out, PendingEntry{Epoch: e.Key, Value: uint64(e.Value)})
	}
	return out
}

type jsonAuthorized map[string]json.RawMessage

func (a jsonAuthorized) fields(t *testing.T) Authorized {
	var kind string
	var addr Address
	if err := json.Unmarshal(a["$kind"], &kind); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(a[kind], &addr); err != nil {
		t.Fatal(err)
	}
	return Authorized{IsObject: kind == "ObjectID", Address: addr}
}

type jsonPool struct {
	ID     Address                    `json:"id"`
	State  map[string]json.RawMessage `json:"state"`
	Voting struct {
		SPrice   jsonU64 `json:"storage_price"`
		WPrice   jsonU64 `json:"write_price"`
		Capacity jsonU64 `json:"node_capacity"`
	} `json:"voting_params"`
	Node struct {
		Name     string       `json:"name"`
		NodeID   Address      `json:"node_id"`
		Addr     string       `json:"network_address"`
		Key      jsonElement  `json:"public_key"`
		NextKey  *jsonElement `json:"next_epoch_public_key"`
		NetKey   []int        `json:"network_public_key"`
		Metadata struct {
			ID Address `json:"id"`
		} `json:"metadata"`
	} `json:"node_info"`
	Activation     uint32      `json:"activation_epoch"`
	Latest         uint32      `json:"latest_epoch"`
	WAL            jsonU64     `json:"wal_balance"`
	Shares         jsonU64     `json:"num_shares"`
	SharesWithdraw jsonPending `json:"pending_shares_withdraw"`
	PreActive      jsonPending `json:"pre_active_withdrawals"`
	PendingRate    jsonPending `json:"pending_commission_rate"`
	Rate           uint16      `json:"commission_rate"`
	Rates          struct {
		ID   Address `json:"id"`
		Size jsonU64 `json:"size"`
	} `json:"exchange_rates"`
	PendingStake jsonPending `json:"pending_stake"`
	Rewards      struct {
		Value jsonU64 `json:"value"`
	} `json:"rewards_pool"`
	Commission struct {
		Value jsonU64 `json:"value"`
	} `json:"commission"`
	Receiver   jsonAuthorized `json:"commission_receiver"`
	Governance jsonAuthorized `json:"governance_authorized"`
	Extra      struct {
		ID   Address `json:"id"`
		Size jsonU64 `json:"size"`
	} `json:"extra_fields"`
}

func (j jsonPool) fields(t *testing.T) StakingPoolFields {
	p := StakingPoolFields{ID: j.ID, StoragePrice: uint64(j.Voting.SPrice), WritePrice: uint64(j.Voting.WPrice), NodeCapacity: uint64(j.Voting.Capacity),
		Node: StorageNodeInfo{Name: j.Node.Name, NodeID: j.Node.NodeID, NetworkAddress: j.Node.Addr, PublicKey: ints(j.Node.Key.Bytes),
			NetworkPublicKey: ints(j.Node.NetKey), MetadataID: j.Node.Metadata.ID},
		ActivationEpoch: j.Activation, LatestEpoch: j.Latest, WALBalance: uint64(j.WAL), NumShares: uint64(j.Shares),
		PendingSharesWithdraw: j.SharesWithdraw.entries(), PreActiveWithdrawals: j.PreActive.entries(), PendingCommissionRate: j.PendingRate.entries(),
		CommissionRate: j.Rate, ExchangeRatesID: j.Rates.ID, ExchangeRatesSize: uint64(j.Rates.Size), PendingStake: j.PendingStake.entries(),
		RewardsPool: uint64(j.Rewards.Value), Commission: uint64(j.Commission.Value),
		CommissionReceiver: j.Receiver.fields(t), GovernanceAuthorized: j.Governance.fields(t), ExtraFieldsID: j.Extra.ID, ExtraFieldsSize: uint64(j.Extra.Size)}
	if j.Node.NextKey != nil {
		p.Node.NextEpochPublicKey = ints(j.Node.NextKey.Bytes)
	}
	var kind string
	if err := json.Unmarshal(j.State["$kind"], &kind); err != nil {
		t.Fatal(err)
	}
	switch kind {
	case "Active":
		p.State = PoolActive
	case "Withdrawing":
		p.State = PoolWithdrawing
		if err := json.Unmarshal(j.State[kind], &p.WithdrawingEpoch); err != nil {
			t.Fatal(err)
		}
	default:
		p.State = PoolWithdrawn
	}
	return p
}

func decodeInto[T any](t *testing.T, raw json.RawMessage) T {
	t.Helper()
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("fields: %v", err)
	}
	return v
}

// TestFixtureObjects re-encodes every object from its fields and compares
// with the SDK's bytes.
func TestFixtureObjects(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.Objects {
		t.Run(fx.Name, func(t *testing.T) {
			typ, err := ParseType(fx.Type)
			if err != nil {
				t.Fatal(err)
			}
			if typ.String() != fx.Type {
				t.Fatalf("type renders as %s, want %s", typ, fx.Type)
			}
			st := typ.Struct
			var got []byte
			switch name := st.Module + "::" + st.Name; name {
			case "blob::Blob":
				j := decodeInto[jsonBlob](t, fx.Fields)
				got = BlobFields{ID: j.ID, RegisteredEpoch: j.Registered, BlobID: j.BlobID, Size: uint64(j.Size), EncodingType: j.Encoding,
					CertifiedEpoch: j.Certified, Storage: j.Storage.fields(), Deletable: j.Deletable}.BCS()
				back, err := decodeBlob(got)
				if err != nil || !reflect.DeepEqual(back.BCS(), got) {
					t.Fatalf("blob decode round trip: %v", err)
				}
			case "storage_resource::Storage":
				got = decodeInto[jsonStorage](t, fx.Fields).fields().BCS()
			case "system::System", "staking::Staking":
				j := decodeInto[jsonVersioned](t, fx.Fields)
				got = VersionedFields{ID: j.ID, Version: uint64(j.Version), PackageID: j.PackageID, NewPackageID: j.NewPackage}.BCS()
			case "system_state_inner::SystemStateInnerV1":
				got = decodeInto[jsonSystemInner](t, fx.Fields).fields().BCS()
			case "staking_inner::StakingInnerV1":
				got = decodeInto[jsonStakingInner](t, fx.Fields).fields(t).BCS()
			case "staking_pool::StakingPool":
				got = decodeInto[jsonPool](t, fx.Fields).fields(t).BCS()
			case "coin::Coin":
				j := decodeInto[struct {
					ID      Address `json:"id"`
					Balance struct {
						Value jsonU64 `json:"value"`
					} `json:"balance"`
				}](t, fx.Fields)
				got = coinContents(j.ID, uint64(j.Balance.Value))
			case "dynamic_field::Field":
				j := decodeInto[struct {
					ID    Address         `json:"id"`
					Name  json.RawMessage `json:"name"`
					Value json.RawMessage `json:"value"`
				}](t, fx.Fields)
				valueType := st.Params[1].Struct
				switch valueType.Module + "::" + valueType.Name {
				case "system_state_inner::SystemStateInnerV1":
					got = fieldContents(j.ID, uint64(decodeInto[jsonU64](t, j.Name)), decodeInto[jsonSystemInner](t, j.Value).fields().BCS())
				case "staking_inner::StakingInnerV1":
					got = fieldContents(j.ID, uint64(decodeInto[jsonU64](t, j.Name)), decodeInto[jsonStakingInner](t, j.Value).fields(t).BCS())
				case "metadata::Metadata":
					if name := string(ints(decodeInto[[]int](t, j.Name))); name != "metadata" {
						t.Fatalf("metadata field name %q", name)
					}
					m := decodeInto[struct {
						Metadata struct {
							Contents []MetadataPair `json:"contents"`
						} `json:"metadata"`
					}](t, j.Value)
					var pairs []MetadataPair
					for _, p := range m.Metadata.Contents {
						pairs = append(pairs, MetadataPair{Key: p.Key, Value: p.Value})
					}
					got = MetadataFieldBCS(j.ID, pairs)
				default:
					t.Fatalf("no encoder for field value %s", valueType)
				}
			default:
				t.Fatalf("no encoder for %s", name)
			}
			if want := b64(t, fx.Contents); string(got) != string(want) {
				t.Fatalf("contents\n%x\nwant\n%x", got, want)
			}
		})
	}
}

// TestFixtureDynamicFields derives every dynamic-field ID.
func TestFixtureDynamicFields(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.DynamicFields {
		parent, err := ParseAddress(fx.Parent)
		if err != nil {
			t.Fatal(err)
		}
		kt, err := ParseType(fx.KeyType)
		if err != nil {
			t.Fatal(err)
		}
		if got := DynamicFieldID(parent, kt, b64(t, fx.KeyBCS)).String(); got != fx.ID {
			t.Errorf("%s: %s, want %s", fx.Name, got, fx.ID)
		}
		if fx.KeyType == "vector<u8>" {
			if got := MetadataFieldID(parent).String(); got != fx.ID {
				t.Errorf("%s: MetadataFieldID %s, want %s", fx.Name, got, fx.ID)
			}
		}
	}
}

// TestFixtureEvents re-encodes every event from its fields.
func TestFixtureEvents(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.Events {
		t.Run(fx.Name, func(t *testing.T) {
			j := decodeInto[struct {
				Epoch        uint32   `json:"epoch"`
				BlobID       jsonU256 `json:"blob_id"`
				Size         jsonU64  `json:"size"`
				Encoding     uint8    `json:"encoding_type"`
				End          uint32   `json:"end_epoch"`
				Deletable    bool     `json:"deletable"`
				ObjectID     Address  `json:"object_id"`
				IsExtension  bool     `json:"is_extension"`
				WasCertified bool     `json:"was_certified"`
				SPrice       jsonU64  `json:"storage_price"`
				WPrice       jsonU64  `json:"write_price"`
			}](t, fx.Fields)
			typ, err := ParseType(fx.Type)
			if err != nil {
				t.Fatal(err)
			}
			var got []byte
			switch typ.Struct.Name {
			case "BlobRegistered":
				got = BlobRegistered{Epoch: j.Epoch, BlobID: j.BlobID, Size: uint64(j.Size), EncodingType: j.Encoding, EndEpoch: j.End, Deletable: j.Deletable, ObjectID: j.ObjectID}.BCS()
			case "BlobCertified":
				got = BlobCertified{Epoch: j.Epoch, BlobID: j.BlobID, EndEpoch: j.End, Deletable: j.Deletable, ObjectID: j.ObjectID, IsExtension: j.IsExtension}.BCS()
			case "BlobDeleted":
				got = BlobDeleted{Epoch: j.Epoch, BlobID: j.BlobID, EndEpoch: j.End, ObjectID: j.ObjectID, WasCertified: j.WasCertified}.BCS()
			case "PricesUpdated":
				got = PricesUpdated{Epoch: j.Epoch, StoragePrice: uint64(j.SPrice), WritePrice: uint64(j.WPrice)}.BCS()
			case "EpochChangeDone":
				got = EpochChangeDoneEvent{Epoch: j.Epoch}.BCS()
			default:
				t.Fatalf("no encoder for %s", typ)
			}
			if want := b64(t, fx.BCS); string(got) != string(want) {
				t.Fatalf("%x, want %x", got, want)
			}
		})
	}
}

// TestFixtureTypeTags parses, renders and encodes every type.
func TestFixtureTypeTags(t *testing.T) {
	f := loadFixtures(t)
	for _, fx := range f.TypeTags {
		tt, err := ParseType(fx.Type)
		if err != nil {
			t.Fatal(err)
		}
		if tt.String() != fx.Normalized {
			t.Errorf("%s renders as %s, want %s", fx.Type, tt, fx.Normalized)
		}
		w := &writer{}
		encodeTypeTag(w, tt)
		if want := b64(t, fx.BCS); string(w.b) != string(want) {
			t.Errorf("%s: %x, want %x", fx.Type, w.b, want)
		}
		r := &reader{b: w.b}
		back := decodeTypeTag(r, 0)
		if err := r.done(); err != nil || back.String() != tt.String() {
			t.Errorf("%s: decode %v %v", fx.Type, back, err)
		}
	}
}
