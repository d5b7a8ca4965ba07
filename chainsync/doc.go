// Package chainsync keeps the blobs a filesystem references alive on their
// store: Walrus stores a blob only until its end epoch, so every blob that
// a file still reads from must have its lease extended before it runs out.
//
// # Renewal
//
// A [Renewer] runs in the background ([Renewer.Run]). Every
// [Config.Interval] it reads the current epoch from its [Ledger] and the
// blob records from the index, and extends each blob that is still
// referenced (index.Blob.Refs > 0) and ends within [Config.MinEpochsAhead]
// epochs, so that it ends [Config.TargetEpochsAhead] epochs from now
// (never more than the 53 Walrus allows). The new end is recorded in the
// index (index.Index.SetBlobEnd), which is what user.walrus.end_epoch
// shows. Quilts are extended as a whole: a patch has no lease of its own.
//
// Blobs nothing references any more are left to expire: that is the
// cheapest garbage collection Walrus offers, and it gives a grace period
// (the rest of the lease) in which an older index (a snapshot) can still
// read them. Once such a blob's lease has ended, a ledger that is also a
// [Collector] (the local store, where nothing expires by itself) is told
// to drop it, and the blob's index record goes with it
// (index.Index.DropBlob, which keeps a record that gained a reference).
//
// A blob whose lease has already ended cannot be extended (Walrus refuses,
// and so does the local store). The renewer reports it on every pass:
// on Walrus its data is gone, and the files that reference it can no
// longer be read from the store (the local store keeps it).
//
// # Ledgers
//
// The [Ledger] is the chain as the renewer sees it: the current epoch and
// an extend call. The embedded local store (*localstore.Store) is one as
// it is, with its epoch clock and localstore.Store.Extend, and a
// [Collector] too; cmd/walrusfs wires it. A Sui ledger for blobs on the
// Walrus network, whose Blob objects the daemon owns through
// send_object_to, is to come.
package chainsync
