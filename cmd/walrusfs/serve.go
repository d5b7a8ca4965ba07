package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"github.com/walrusfs/walrusfs/blobstore/httpserver"
	"github.com/walrusfs/walrusfs/blobstore/localstore"
)

// defaultServeShards is the shard count `walrusfs serve` encodes with. The
// Walrus publisher accepts 10 MiB blobs and 100 MiB quilts by default; RS2
// at n=10 cannot hold more than 1.8 MB, while n=100 holds 149 MB.
const defaultServeShards = 100

func serveCommand() *cobra.Command {
	return newCommand(commandSpec{
		use:   "serve [--listen ADDR] [--store DIR[,DIR...]] [--shards N] [--quilt-shards N] [--chain]",
		short: "serve the Walrus publisher/aggregator HTTP API from a local store",
		long: `Serves the Walrus publisher and aggregator HTTP API (PUT /v1/blobs, PUT /v1/quilts,
GET /v1/blobs/{id} with Range, patch reads, /status) from a local RS2 store,
in the foreground until interrupted. With --chain it also runs a local Sui
chain holding every stored blob as a Walrus Blob object.`,
		args: exactArgs(0, ""),
		setup: func(fl *pflag.FlagSet) runFunc {
			listen := fl.String("listen", "127.0.0.1:31415", "address to listen on (port 0 picks a free port)")
			storeDirs := fl.String("store", filepath.Join(defaultStateDir(), "serve-store"), "store directories, comma-separated; slivers are spread over them")
			shards := fl.Int("shards", defaultServeShards, "RS2 shard count n of new blobs (blob IDs depend on it; Walrus Mainnet and Testnet use 1000)")
			quiltShards := fl.Int("quilt-shards", localstore.DefaultQuiltShards, "RS2 shard count of quilts (a quilt holds n-f-1 patches: 666 at 1000, as on Mainnet)")
			maxBlob := sizeFlag{v: uint64(httpserver.DefaultConfig().MaxBlobBody)}
			fl.Var(&maxBlob, "max-blob-body", "largest PUT /v1/blobs body")
			maxQuilt := sizeFlag{v: uint64(httpserver.DefaultConfig().MaxQuiltBody)}
			fl.Var(&maxQuilt, "max-quilt-body", "largest PUT /v1/quilts body")
			logLevel := fl.String("log-level", "info", "log level: debug, info, warn or error")
			withChain := fl.Bool("chain", false, "also run a local Sui chain holding the blobs' Walrus objects (a complete local Walrus on Sui); writes client.toml into the store directory")
			chainPort := fl.Int("chain-port", 31416, "with --chain, the port of the Sui API on 127.0.0.1 (0 picks a free one)")
			epochDuration := fl.Duration("epoch-duration", 0, "with --chain, advance the Walrus epoch this often (0: only with 'walrusfs chain advance')")
			debugAddr := fl.String("debug-addr", "", "serve Go profiling (net/http/pprof) on this loopback address, e.g. 127.0.0.1:6061")
			return func(ctx context.Context, _ []string, stdout, stderr io.Writer) error {
				log, err := newLogger(stderr, *logLevel, "text")
				if err != nil {
					return err
				}
				if *debugAddr != "" {
					if err := serveProfiling(*debugAddr, log); err != nil {
						return err
					}
				}
				scfg := localstore.DefaultConfig()
				for _, d := range strings.Split(*storeDirs, ",") {
					if d = strings.TrimSpace(d); d != "" {
						scfg.Dirs = append(scfg.Dirs, d)
					}
				}
				scfg.Shards = *shards
				scfg.QuiltShards = *quiltShards
				if *epochDuration < 0 || (*epochDuration > 0 && !*withChain) {
					return fmt.Errorf("--epoch-duration needs --chain and a positive duration: %w", errUsage)
				}
				if *withChain {
					// The chain's epochs rule; the store's own leases never end.
					scfg.EpochDuration = 100 * 365 * 24 * time.Hour
				}
				store, err := localstore.Open(ctx, scfg, log)
				if err != nil {
					return err
				}
				defer func() {
					if err := store.Close(); err != nil {
						log.Error("closing the store", "err", err)
					}
				}()

				hcfg := httpserver.DefaultConfig()
				hcfg.MaxBlobBody = int64(maxBlob.v)
				hcfg.MaxQuiltBody = int64(maxQuilt.v)
				ln, err := net.Listen("tcp", *listen)
				if err != nil {
					return fmt.Errorf("cannot listen on %s: %w (is another walrusfs serve or Walrus daemon running? pick another --listen)", *listen, err)
				}
				handler := httpserver.New(store, hcfg, log)
				if *withChain {
					chain, err := openLocalChain(ctx, scfg.Dirs[0], *shards, *chainPort, *epochDuration)
					if err != nil {
						return err
					}
					defer chain.Close()
					mux := http.NewServeMux()
					mux.Handle("/walrusfs/chain/", &chainAdmin{chain: chain, log: log})
					mux.Handle("/", httpserver.New(&chainStore{inner: store, chain: chain}, hcfg, log))
					handler = mux
					httpURL := "http://" + ln.Addr().String()
					cfgPath := filepath.Join(scfg.Dirs[0], "client.toml")
					if err := writeClientConfig(cfgPath, httpURL, "http://"+chain.Addr(), chain, *quiltShards); err != nil {
						return fmt.Errorf("writing %s: %w", cfgPath, err)
					}
					fmt.Fprintln(stdout, cfgPath)
					log.Info("serving a local Sui chain", "sui_rpc", chain.Addr(), "epoch", chain.Epoch(), "client_config", cfgPath)
					if *epochDuration > 0 {
						go advanceEpochs(ctx, chain, *epochDuration, log)
					}
				}
				srv := &http.Server{
					Handler:           handler,
					ReadHeaderTimeout: 30 * time.Second,
					IdleTimeout:       2 * time.Minute,
				}
				log.Info("serving the Walrus HTTP API", "listen", ln.Addr().String(), "store", scfg.Dirs, "shards", scfg.Shards,
					"max_blob", store.MaxBlobSize())
				errc := make(chan error, 1)
				go func() { errc <- srv.Serve(ln) }()
				select {
				case err := <-errc:
					return fmt.Errorf("serving: %w", err)
				case <-ctx.Done():
				}
				shutdownCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				if err := srv.Shutdown(shutdownCtx); err != nil {
					log.Warn("requests still running at shutdown", "err", err)
				}
				log.Info("stopped")
				return nil
			}
		},
	})
}
