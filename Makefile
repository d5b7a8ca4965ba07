# walrusfs: build, run, test, bench.
#
#   make run    mount the embedded default at $(MOUNTPOINT) in the foreground
#   make test   the full test suite (real FUSE mounts; run as root)
#   make bench  walrusfs against a go-fuse loopback mount, as one table
#   make man    the man pages, one per command, into man/

GO          ?= go
MOUNTPOINT  ?= /mnt/walrus
STATE_DIR   ?=
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
PREFIX      ?= /usr/local
GOLANGCI    ?= github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v2.6.2
BIN         := bin/walrusfs
LDFLAGS     := -X main.version=$(VERSION)
FUZZTIME    ?= 30s
BENCH_FLAGS ?=

.PHONY: all build run test test-short lint bench fuzz install soak tools clean man completion

all: build

build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/walrusfs

# Mount as root on a fresh machine: mounting needs only /dev/fuse; the fuse3
# package (fusermount3) is installed when missing so non-root unmounts work.
run: build tools
	mkdir -p $(MOUNTPOINT)
	./$(BIN) mount $(if $(STATE_DIR),--state-dir $(STATE_DIR)) $(MOUNTPOINT)

test: tools
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 30m ./...
	# The race detector makes the n=1000 reference vectors too slow to run
	# under it; check every vector once more without it.
	$(GO) test -count=1 -run 'Vectors|Quilt' ./blobstore/rs2/ ./blobstore/quilt/
	# The end-to-end data-plane tests run small under the race detector;
	# run them at full size (10,000 files, 100 MiB files) without it.
	$(GO) test -count=1 -timeout 30m -run 'TestE2E|TestSmallFilesPack' ./fs/

test-short:
	$(GO) test -count=1 -short ./...

lint:
	$(GO) run $(GOLANGCI) run ./...

bench: build tools
	@./scripts/install-tools.sh bench
	$(GO) run ./scripts/bench --walrusfs $(BIN) $(BENCH_FLAGS)

fuzz:
	./scripts/fuzz.sh $(FUZZTIME)

# Man pages and shell completion come from the command definitions.
man: build
	./$(BIN) man --dir man

completion: build
	mkdir -p completion
	./$(BIN) completion bash > completion/walrusfs.bash
	./$(BIN) completion zsh > completion/_walrusfs
	./$(BIN) completion fish > completion/walrusfs.fish

install: build man completion
	install -D -m 0755 $(BIN) $(DESTDIR)$(PREFIX)/bin/walrusfs
	install -d $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0644 man/*.1 $(DESTDIR)$(PREFIX)/share/man/man1/
	install -D -m 0644 completion/walrusfs.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/walrusfs
	install -D -m 0644 completion/_walrusfs $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_walrusfs
	install -D -m 0644 completion/walrusfs.fish $(DESTDIR)$(PREFIX)/share/fish/vendor_completions.d/walrusfs.fish
	# mount(8) runs /sbin/mount.walrusfs for `mount -t walrusfs` and fstab.
	install -d $(DESTDIR)/sbin
	ln -sf $(PREFIX)/bin/walrusfs $(DESTDIR)/sbin/mount.walrusfs
	install -d $(DESTDIR)$(PREFIX)/lib/systemd/system
	sed 's|@BINDIR@|$(PREFIX)/bin|' scripts/systemd/walrusfs.service > $(DESTDIR)$(PREFIX)/lib/systemd/system/walrusfs.service

# Long randomized runs kept out of `make test`.
soak:
	WALRUSFS_MODEL_OPS=200000 $(GO) test -count=1 -run Model -timeout 2h ./index/

# Installs the system packages the tests and mounts use, when missing and
# when we can (root with apt-get); otherwise carries on without them.
tools:
	@./scripts/install-tools.sh

clean:
	rm -rf bin man completion
