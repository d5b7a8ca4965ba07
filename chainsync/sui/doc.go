// Package sui speaks to the Sui blockchain for walrusfs: it builds and
// signs the few transactions walrusfs sends (extending, deleting and
// burning its Walrus Blob objects, moving coins), reads Walrus objects
// from their BCS bytes, and talks to a full node over gRPC (sui.rpc.v2).
//
// It is the only package of walrusfs that imports the Sui SDK, and from
// it only the generated gRPC stubs: the SDK's transaction builder encodes
// several things wrongly (primitive type arguments, the FundsWithdrawal
// input, expirations other than None and Epoch; see the README), so
// transactions are written here, byte for byte against fixtures the
// official TypeScript SDK produced (testdata/chain_fixtures.json).
//
// # BCS
//
// Sui's wire format is BCS: little-endian fixed-width integers, a ULEB128
// length before every vector and string, one byte for a bool or an
// Option's tag, the variant index (ULEB128) before an enum's value, and
// struct fields in declaration order with nothing between them. There is
// exactly one encoding per value, so a reader that finds bytes left over
// has been given the wrong type. Readers here treat every byte as
// untrusted: lengths are checked against what is left before anything is
// allocated, and the first error sticks.
//
// # Keys
//
// A [Signer] holds one ed25519 key, loaded from a file only its owner
// can read ([LoadKeyFile]); its printed forms name the address, never the
// key.
//
// # Transactions
//
// A [Builder] assembles a programmable transaction the way the official
// SDK does (inputs numbered by first use, objects deduplicated, a shared
// object mutable if any use is, pure values never deduplicated), so the
// same calls give the same bytes. [Calls] adds the Walrus calls walrusfs
// makes: extensions paid from a capped split whose remainder is merged
// back, delete_blob with the storage destroyed, burn.
//
// A [Sender] sends one address's transactions one at a time, with a
// journal file: a transaction is written there before it is signed and
// cleared once its effects are known; an unknown outcome is settled (looked
// up by digest, or the same bytes sent again) before anything new is
// built. Later transactions use the object versions the effects gave
// ([Sender.Fresh]), so a node whose reads lag behind cannot make the
// sender offer a spent coin, and no object is ever offered to two
// transactions at once.
//
// # Reading Walrus
//
// [Walrus] reads a deployment's System and Staking objects, their state
// in the dynamic field keyed by their version ([InnerStateID]), and Blob
// and Coin objects; every object's type is checked before its bytes are
// parsed. [Ledger] puts it together for chainsync: the epoch clock and
// prices, the Blob objects an address owns, batched extensions within a
// spending cap (recorded in a file so a restart does not reset it), and
// deletion and burning of garbage, with dry runs of both.
//
// The double in suitest is a full node for tests and for `walrusfs serve
// --chain`; it shares no code with this package.
package sui
