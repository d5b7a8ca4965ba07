// Package chainsync keeps the blobs a filesystem references alive on their
// store, and keeps the index in step with the chain that records them:
// Walrus stores a blob only until its end epoch, so every blob that a file
// still reads from must have its lease extended before it runs out, and
// only the chain can say that a blob is certified or how long it lasts.
//
// # Renewal
//
// A [Renewer] runs in the background ([Renewer.Run]): a pass every
// [Config.Interval] and whenever it is kicked ([Renewer.Kick]; the
// follower kicks it at every epoch change). A pass first plans
// ([Renewer.Plan], which changes nothing and is what `walrusfs chain renew
// --dry-run` shows) from one read of the current epoch, the [Ledger] and
// the blob records in the index: every blob that is still referenced
// (index.Blob.Referenced: a chunk refers to it or a kept snapshot pins it) and ends within [Config.MinEpochsAhead] epochs is
// due, to end [Config.TargetEpochsAhead] epochs from now (never more than
// the 53 Walrus allows). Then it acts: it extends the due blobs, in one
// call when the ledger is a [BatchExtender] (on Sui, transactions of many
// blobs), and records each new end in the index (index.Index.SetBlobEnd),
// which is what user.walrus.end_epoch shows. Quilts are extended as a
// whole: a patch has no lease of its own.
//
// The chain is the truth: before extending a blob the plan reads the
// blob's end from the ledger ([Ledger.Stat]), so an extension whose index
// update a crash lost is recorded, not paid again.
//
// A blob whose lease has already ended cannot be extended (Walrus refuses,
// and so does the local store). The renewer reports such blobs on every
// pass, in one line: on Walrus their data is gone, and the files that
// reference them can no longer be read from the store.
//
// # Garbage
//
// Blobs nothing references any more are garbage. On the local store (a
// [Collector]) they are left to expire, the cheapest collection there is,
// and dropped with their index record once their lease has ended. A ledger
// that owns its Blob objects (a [Discarder]: Sui with the daemon's key)
// lets go of them itself: a pass marks each blob it finds without
// references (index.Index.MarkUnreferenced) and, once it has been so for
// [Config.GCGrace] epochs, deletes its object (or burns it, when it is not
// deletable or has expired). Objects the index does not know (an upload
// that crashed between the store and the index) and second objects of the
// same blob go too, once they are GCGrace epochs old, an age no upload in
// flight reaches. The choice is one pure function (planGarbage), table
// tested. A blob that gained a reference meanwhile keeps its object: the
// index record names the object it keeps.
//
// # Following the chain
//
// A [Follower] keeps the index in step with a [Chain]. The store's reply
// that a blob is certified is not taken (the uploader records it as
// stored: upload.Config.CertifiedByChain); the follower reads each new
// blob's object and records certification (index.Index.RecordChain) only
// when the object says so, which is when user.walrus.state turns
// certified, fsync with --fsync=certified returns, and the chunks' staged
// copies may go. At every epoch change it reads every recorded object
// again (end epochs move only by transactions, and another owner can
// extend or delete), counts owned objects the index does not know, and
// warns, with calendar dates, about referenced blobs near their end and a
// wallet that cannot pay the next renewal.
//
// # Ledgers
//
// The [Ledger] is the chain as the renewer sees it: the current epoch and
// an extend call. The embedded local store (*localstore.Store) is one as
// it is, with its epoch clock and localstore.Store.Extend, and a
// [Collector] too. chainsync/sui.Ledger is Walrus on Sui: a Ledger,
// [BatchExtender], [PassStarter], [Discarder] and [Chain]. This package
// never imports it; cmd/walrusfs wires one or the other.
package chainsync
