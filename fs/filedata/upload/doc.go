// Package upload turns sealed chunks into Walrus blobs. An [Uploader]
// reads the upload queue, sends chunks of at least QuiltThreshold bytes as
// standalone blobs and packs smaller ones into quilts (QuiltV1, one patch
// per chunk), and records each result in the index in one operation
// ([Queue.CompleteUploads]). Nothing is taken off the queue before its
// result is recorded, so a crash at any point leaves every sealed chunk
// either recorded or still queued; the next mount uploads what is queued.
//
// # Scheduling
//
// One goroutine passes over the queue when it changes ([Uploader.Kick]) or
// a wait it set runs out, at most every 50 ms. Each pass splits in two: a pure decision, plan, which
// given the queued chunks, the clock and the limits says which chunks go in
// which upload and which wait for more company; and the side effects, which
// start those uploads in order until no upload slot is free. plan is where
// the packing rules live and is tested on its own, by table and by fuzzing.
//
// Quilts are laid out at the store's quilt shard count, and QuiltMaxBytes
// bounds the quilt as laid out, not the sum of its chunks (see
// quilt.Planner). A partly filled quilt waits up to QuiltMaxAge for more
// chunks, unless someone waits for uploads ([Uploader.Flushing],
// [Uploader.WaitFor]).
//
// # Resources
//
// Concurrency bounds the uploads in flight, and only one of them is a
// quilt: a quilt's chunks are held in memory while it is built and its
// encoding uses every core. A standalone blob streams from its staging
// file. While the filesystem is taking a stream of changes, uploads wait
// for a pause (ForegroundFirst, QuietPeriod), never when staging is tight
// or someone waits for them. A failed upload leaves its chunks queued and
// holds every upload back for a backoff between RetryMin and RetryMax. A
// store that refuses a quilt (too large, or too many patches) gets it in
// halves, and later quilts hold fewer patches than the one it refused.
package upload
