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
package sui
