// Package suitest is a Sui full node for tests: a real gRPC server on
// 127.0.0.1 speaking sui.rpc.v2, in front of a small in-memory chain that
// holds the Walrus objects in their on-chain BCS layouts and executes the
// transactions walrusfs sends. It lets chain code run end to end — build,
// sign, execute, read back — without a network, and lets tests make the
// chain misbehave on purpose.
//
// # What it models
//
// The Walrus System and Staking shared objects with their inner state as
// dynamic fields at package version 3 (SystemStateInnerV1,
// StakingInnerV1), a committee of storage nodes with BLS12-381 min-pk keys
// derived from Config.Seed, a StakingPool per node, Blob and Storage
// objects, Coin<T> objects and SIP-58 address balances. The walrus package
// has two IDs, as on Mainnet: types and events live at the original ID
// (WalrusTypePackage), calls go to the published-at ID (WalrusPackage).
//
// Transactions are TransactionData V1 programmable transactions, decoded
// by this package's own decoder (DecodeTransaction), signed with ed25519.
// Before executing, the chain checks what validators check and rejects
// the RPC with a gRPC status, executing nothing: the signature and sender,
// each owned input's version and digest (the message names the object),
// shared inputs' initial shared versions, locks (LockObject), the gas
// price, budget and coins, and the expiration. Rejections are
// INVALID_ARGUMENT with Sui's wording ("... is not available for
// consumption, current version: ..."), except an equivocated object,
// which is FAILED_PRECONDITION ("... equivocated until the next epoch").
// Then it runs the commands: SplitCoins, MergeCoins, TransferObjects, and
// Move calls of
//
//	system::reserve_space, register_blob, certify_blob, extend_blob, delete_blob
//	storage_resource::destroy, blob::burn
//	0x2::coin::redeem_funds, send_funds, into_balance, from_balance, destroy_zero, value, zero
//	0x2::balance::redeem_funds, send_funds
//
// The Walrus calls follow the Move code: the same checks in the same
// order, aborting with the same module and code (CHAIN.md §3 lists them;
// TestAborts triggers each one), the same costs (storage units of 1 MiB,
// prices from the System object), the same events with their BCS, and a
// real BLS check of certificates with quorum counted by shard weight. A
// failure rolls back everything but the gas charge; effects then carry
// the ExecutionError with its kind, Move abort location and command index.
//
// Executed transactions report balance changes (coins and address
// balances netted per owner and coin type), and GetTransaction returns them
// with effects and events. SimulateTransaction executes without committing
// or a signature; with do_gas_selection it fills in the gas price, budget
// and coins, and returns the completed transaction.
//
// Objects get Lamport versions (the highest input version plus one) and
// digests computed as Sui does: BLAKE2b-256 of "Object::" and the BCS
// Object. Created object IDs derive from the transaction digest. Effects
// report a Storage wrapped into a Blob, and unwrapped by delete_blob or
// blob::burn, the way Sui reports wrapping.
//
// The abort location's package is the walrus original ID (the runtime
// ID of its modules) or 0x2, its module the module that aborts, and its
// function name the entry function the transaction called.
//
// # What it does not model
//
// No consensus, checkpoints or object history: reads see the latest
// state (or, with SetReadLag, a recent one), GetObject at an older version
// is NotFound, and GetTransaction knows the last 1000 transactions. No storage nodes: certificates come from Chain.Certificate,
// which signs with the committee's keys, or CreateBlob/CertifyBlob skip
// them. No packages: only the functions above exist; other functions fail
// with FUNCTION_NOT_FOUND, other packages are rejected. No sponsored
// transactions, multisig or zkLogin, no Receiving inputs, no allowance
// withdrawals, no Publish, MakeMoveVec or Upgrade, no coin reservations
// in the gas payment. Gas is deterministic but not Sui's schedule:
// computation is the gas price × (1000 + 1000 per command), storage 7600
// MIST a byte of each written object plus 100, rebates 99% of what a
// replaced or deleted object paid; a failed transaction is charged its
// computation only. Walrus epochs change only by AdvanceEpoch, which also
// moves the Sui epoch; rewards are booked but never paid out, and the
// committee never changes. Withdrawal reservations are checked when
// redeemed, not before execution. The effects digest is a stand-in.
//
// # Using it
//
//	cfg := suitest.DefaultConfig()
//	cfg.NShards = 10              // small encoded lengths, fast tests
//	c, err := suitest.New(cfg)
//	...
//	if err := c.Serve(ctx); err != nil { ... }
//	defer c.Close()
//	c.Fund(addr, 100, 100)        // 100 WAL and 100 SUI
//	dial(c.Addr())                // plaintext gRPC, "127.0.0.1:port"
//
// The package's tests show the rest: helpers_test.go builds and signs
// transactions, exec_test.go drives every abort and fault.
//
// Point the client at Addr with the System object (SystemObject), the
// package (WalrusPackage) and the WAL type (WALType). Drive time with
// AdvanceEpoch and prices with SetPrices; inject faults with FailNext
// (the next n RPCs fail with a code), FailAfterExecute (a transaction runs
// but its reply is lost), SetReadLag (reads lag behind
// execution, as a load-balanced full node does), LockObject (an
// equivocated object, until the next epoch) and SetCapacity. For a
// publisher double, CreateBlob, CertifyBlob and BlobLive work on the same
// objects the client sees.
//
// With Config.StateFile the chain survives restarts: every commit rewrites
// the file atomically (temporary file, fsync, rename), and New loads it
// when it exists, taking only the Port from the Config it is given. The
// committee's keys are derived again from the stored seed; the snapshots
// SetReadLag serves start again from the loaded state.
//
// All methods of Chain are safe for concurrent use; transactions execute
// one at a time.
package suitest
