package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/walrusfs/walrusfs/blobstore"
	"github.com/walrusfs/walrusfs/chainsync/sui/suitest"
)

// With --chain, `walrusfs serve` is a whole local Walrus on Sui: next to
// the publisher and aggregator it runs a Sui full node (the suitest
// double, over real gRPC on 127.0.0.1), and the store follows that chain
// as Walrus follows Sui:
//
//   - every stored blob becomes a registered, certified Blob object on the
//     chain, owned by send_object_to (the publisher's own address when the
//     request names none), deletable unless the request asks for a
//     permanent blob; the reply's blobObject is that object;
//   - a blob is readable only while some certified Blob object for it has
//     not reached its end epoch, so a missed renewal or a deletion shows up
//     as lost data, as it would on Walrus (a burned blob stays readable
//     until its end epoch).
//
// The store's own lease clock is switched off; the chain's epochs rule.

// localPublisherAddress owns the Blob objects of requests that name no
// send_object_to, like a publisher's wallet.
var localPublisherAddress = suitest.Address(sha256.Sum256([]byte("walrusfs serve publisher wallet")))

// chainStore is a blob store whose blobs live as long as their Blob
// objects on the chain.
type chainStore struct {
	inner interface {
		blobstore.Store
		blobstore.QuiltLister
		blobstore.RangeVerifier
	}
	chain *suitest.Chain
}

var (
	_ blobstore.Store         = (*chainStore)(nil)
	_ blobstore.QuiltLister   = (*chainStore)(nil)
	_ blobstore.RangeVerifier = (*chainStore)(nil)
)

// register creates the Blob object for a stored blob and fills info from
// it, or reports the blob already certified for long enough.
func (s *chainStore) register(info blobstore.Info, opts blobstore.PutOptions) (blobstore.Info, error) {
	epochs := max(opts.Epochs, 1)
	now := s.chain.Epoch()
	if opts.Permanent && !opts.Force {
		if end, live := s.chain.BlobLive(info.ID); live && end >= now+epochs {
			info.AlreadyCertified, info.Certified, info.EndEpoch, info.ObjectID = true, true, end, ""
			return info, nil
		}
	}
	owner := localPublisherAddress
	if opts.SendObjectTo != "" {
		a, err := suitest.ParseAddress(opts.SendObjectTo)
		if err != nil {
			return info, fmt.Errorf("send_object_to %q: %w", opts.SendObjectTo, blobstore.ErrInvalidArgument)
		}
		owner = a
	}
	obj, err := s.chain.CreateBlob(owner, info.ID, uint64(info.Size), epochs, !opts.Permanent, true)
	if err != nil {
		return info, fmt.Errorf("registering the blob on the chain: %w: %w", err, blobstore.ErrInvalidArgument)
	}
	// The reply describes the object as the chain holds it.
	b, ok := s.chain.Blob(obj)
	if !ok || b.CertifiedEpoch == nil {
		return info, fmt.Errorf("the chain lost Blob object %s as it was made: %w", obj, blobstore.ErrUnavailable)
	}
	info.ObjectID = obj.String()
	info.RegisteredEpoch, info.EndEpoch = b.RegisteredEpoch, b.Storage.EndEpoch
	info.Certified, info.CertifiedEpoch = true, *b.CertifiedEpoch
	info.Deletable = b.Deletable
	info.EncodedSize = int64(b.Storage.Size)
	info.AlreadyCertified = false
	return info, nil
}

func (s *chainStore) Put(ctx context.Context, r io.Reader, size int64, opts blobstore.PutOptions) (blobstore.Info, error) {
	info, err := s.inner.Put(ctx, r, size, opts)
	if err != nil {
		return info, err
	}
	return s.register(info, opts)
}

func (s *chainStore) PutQuilt(ctx context.Context, parts []blobstore.QuiltPart, opts blobstore.PutOptions) (blobstore.QuiltInfo, error) {
	qi, err := s.inner.PutQuilt(ctx, parts, opts)
	if err != nil {
		return qi, err
	}
	qi.Blob, err = s.register(qi.Blob, opts)
	return qi, err
}

// live fails with ErrNotFound when no certified, unexpired Blob object
// holds blob id.
func (s *chainStore) live(id blobstore.ID) (uint32, error) {
	end, ok := s.chain.BlobLive(id)
	if !ok {
		return 0, fmt.Errorf("blob %s: no certified Blob object holds it in epoch %d (expired or deleted): %w", id, s.chain.Epoch(), blobstore.ErrNotFound)
	}
	return end, nil
}

func (s *chainStore) ReadRange(ctx context.Context, id blobstore.ID, off, length int64) (io.ReadCloser, error) {
	if _, err := s.live(id); err != nil {
		return nil, err
	}
	return s.inner.ReadRange(ctx, id, off, length)
}

func (s *chainStore) ReadRangeVerified(ctx context.Context, id blobstore.ID, off, length int64, consume func(io.Reader) error) error {
	if _, err := s.live(id); err != nil {
		return err
	}
	return s.inner.ReadRangeVerified(ctx, id, off, length, consume)
}

func (s *chainStore) ReadPatch(ctx context.Context, id blobstore.PatchID) (io.ReadCloser, error) {
	if _, err := s.live(id.Quilt); err != nil {
		return nil, err
	}
	return s.inner.ReadPatch(ctx, id)
}

func (s *chainStore) ListPatches(ctx context.Context, quilt blobstore.ID) ([]blobstore.StoredPatch, error) {
	if _, err := s.live(quilt); err != nil {
		return nil, err
	}
	return s.inner.ListPatches(ctx, quilt)
}

func (s *chainStore) Stat(ctx context.Context, id blobstore.ID) (blobstore.Info, error) {
	end, err := s.live(id)
	if err != nil {
		return blobstore.Info{}, err
	}
	info, err := s.inner.Stat(ctx, id)
	info.EndEpoch = end
	return info, err
}

func (s *chainStore) Delete(ctx context.Context, id blobstore.ID) error {
	return s.inner.Delete(ctx, id)
}

// chainAdmin serves the local network's controls under /walrusfs/chain/,
// to clients on this machine only: `walrusfs chain advance` and
// `walrusfs chain fund` call them.
type chainAdmin struct {
	chain *suitest.Chain
	log   *slog.Logger
	mu    sync.Mutex // one change at a time
}

func (a *chainAdmin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		http.Error(w, "the chain controls answer only on this machine", http.StatusForbidden)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPost && r.URL.Path == "/walrusfs/chain/advance":
		n, err := strconv.Atoi(q.Get("epochs"))
		if err != nil || n < 1 || n > 10000 {
			http.Error(w, "epochs: want a number from 1 to 10000", http.StatusBadRequest)
			return
		}
		if err := a.chain.AdvanceEpoch(n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.log.Info("advanced the local chain", "epochs", n, "epoch", a.chain.Epoch())
	case r.Method == http.MethodPost && r.URL.Path == "/walrusfs/chain/fund":
		owner, err := suitest.ParseAddress(q.Get("address"))
		if err != nil {
			http.Error(w, "address: "+err.Error(), http.StatusBadRequest)
			return
		}
		wal, err1 := strconv.ParseUint(q.Get("wal"), 10, 32)
		sui, err2 := strconv.ParseUint(q.Get("sui"), 10, 32)
		if err1 != nil || err2 != nil {
			http.Error(w, "wal and sui: want whole numbers of tokens", http.StatusBadRequest)
			return
		}
		if err := a.chain.Fund(owner, wal, sui); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.log.Info("funded an address on the local chain", "address", owner, "wal", wal, "sui", sui)
	case r.Method == http.MethodPost && r.URL.Path == "/walrusfs/chain/prices":
		storage, err1 := strconv.ParseUint(q.Get("storage"), 10, 64)
		write, err2 := strconv.ParseUint(q.Get("write"), 10, 64)
		if err1 != nil || err2 != nil {
			http.Error(w, "storage and write: want FROST per MiB", http.StatusBadRequest)
			return
		}
		if err := a.chain.SetPrices(storage, write); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		a.log.Info("changed the local chain's prices", "storage", storage, "write", write)
	case r.Method == http.MethodPost && r.URL.Path == "/walrusfs/chain/fail":
		// Tests: the next n calls to the Sui API fail with UNAVAILABLE.
		n, err := strconv.Atoi(q.Get("n"))
		if err != nil || n < 0 {
			http.Error(w, "n: want a count", http.StatusBadRequest)
			return
		}
		a.chain.FailUnavailable(n)
	case r.Method == http.MethodGet && r.URL.Path == "/walrusfs/chain/info":
	default:
		http.Error(w, "unknown chain control", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"epoch": a.chain.Epoch(), "sui_epoch": a.chain.SuiEpoch()})
}

// clientConfig is the client.toml `walrusfs serve --chain` writes: every
// mount setting needed to use the local network.
func writeClientConfig(path, httpURL, rpcURL string, chain *suitest.Chain, quiltShards int) error {
	system, _ := chain.SystemObject()
	staking, _ := chain.StakingObject()
	text := fmt.Sprintf(`# Settings for a walrusfs mount of the local Walrus on Sui that
# 'walrusfs serve --chain' runs. Use: walrusfs mount --config %s --sui-key KEY MOUNTPOINT
publisher = %q
aggregator = [%q]
network = "local"
sui_rpc = %q
system_object = %q
staking_object = %q
wal_type = %q
network_shards = %d
`, path, httpURL, httpURL, rpcURL, system.String(), staking.String(), chain.WALType(), quiltShards)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(text), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// openLocalChain opens (or resumes) the chain kept in dir, serving it on
// 127.0.0.1:port.
func openLocalChain(ctx context.Context, dir string, shards, port int, epoch time.Duration) (*suitest.Chain, error) {
	cfg := suitest.DefaultConfig()
	cfg.Port = port
	cfg.NShards = uint16(shards)
	if epoch > 0 {
		cfg.EpochDurationMs = uint64(epoch.Milliseconds())
	}
	// A new chain starts now, so epochs map to today's dates; a chain
	// resumed from its state file keeps its own genesis.
	cfg.GenesisTimeMs = uint64(time.Now().UnixMilli())
	cfg.StateFile = filepath.Join(dir, "chain-state.json")
	chain, err := suitest.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("local chain: %w", err)
	}
	if err := chain.Serve(ctx); err != nil {
		return nil, fmt.Errorf("local chain: %w", err)
	}
	return chain, nil
}

// advanceEpochs moves the chain one epoch every d until ctx ends.
func advanceEpochs(ctx context.Context, chain *suitest.Chain, d time.Duration, log *slog.Logger) {
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := chain.AdvanceEpoch(1); err != nil {
				log.Error("advancing the local chain's epoch", "err", err)
			}
		}
	}
}

var errNotLocal = errors.New("only a local network (walrusfs serve --chain) can do this")
