#!/usr/bin/env bash
# Opt-in smoke test of chain sync against Walrus Testnet. Never run by CI or
# `make test`: it needs the network and a funded Testnet key of your own,
# and it spends a little of that key's WAL and SUI.
#
#   WALRUSFS_TESTNET=1 SUI_KEY=/path/to/testnet.key scripts/testnet-smoke.sh
#
# SUI_KEY holds one suiprivkey1… line (mode 0600) for an address with Testnet
# SUI (gas) and WAL (storage); `walrusfs chain keygen --out FILE` makes one,
# the Sui Testnet faucet gives SUI, and the Walrus CLI (`walrus get-wal`)
# exchanges SUI for WAL. Optional: PUBLISHER and AGGREGATOR (the Mysten
# Testnet ones by default), SUI_RPC (the public Testnet full node).
#
# It mounts walrusfs on a temporary directory with chain sync, writes a
# file, waits until the chain says its blob is certified, checks that the
# key's address owns the Blob object, shows what a renewal pass would send,
# and unmounts.
set -euo pipefail
if [ "${WALRUSFS_TESTNET:-}" != 1 ] || [ -z "${SUI_KEY:-}" ]; then
	sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'
	exit 2
fi
cd "$(dirname "$0")/.."
PUBLISHER=${PUBLISHER:-https://publisher.walrus-testnet.walrus.space}
AGGREGATOR=${AGGREGATOR:-https://aggregator.walrus-testnet.walrus.space}
net=(--network testnet --sui-key "$SUI_KEY")
if [ -n "${SUI_RPC:-}" ]; then net+=(--sui-rpc "$SUI_RPC"); fi

make build
bin=bin/walrusfs
work=$(mktemp -d)
cleanup() {
	"$bin" umount "$work/mnt" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/mnt"

echo "== the network and the key's address"
"$bin" chain status "${net[@]}"
owned_before=$("$bin" chain status --json "${net[@]}" | sed -n 's/.*"owned": \([0-9]*\).*/\1/p')

echo "== mount with chain sync"
"$bin" mount --state-dir "$work/state" --publisher "$PUBLISHER" --aggregator "$AGGREGATOR" \
	"${net[@]}" --epochs 2 --renew-target 3 --quilt-age 5s --chain-poll 10s "$work/mnt" 2>"$work/mount.log" &
for _ in $(seq 60); do
	grep -q 'msg=mounted' "$work/mount.log" && break
	sleep 1
done
head -c 2000000 /dev/urandom >"$work/mnt/smoke.bin"
sum=$(sha256sum <"$work/mnt/smoke.bin")

echo "== waiting for the chain to certify the upload"
for _ in $(seq 120); do
	state=$(getfattr --only-values -n user.walrus.state "$work/mnt/smoke.bin" 2>/dev/null || true)
	[ "$state" = certified ] && break
	sleep 5
done
[ "$state" = certified ] || { echo "not certified after 10 minutes"; cat "$work/mount.log"; exit 1; }
echo "certified; lease ends at epoch $(getfattr --only-values -n user.walrus.end_epoch "$work/mnt/smoke.bin")"
[ "$(sha256sum <"$work/mnt/smoke.bin")" = "$sum" ] || { echo "read-back differs"; exit 1; }

owned_after=$("$bin" chain status --json "${net[@]}" | sed -n 's/.*"owned": \([0-9]*\).*/\1/p')
[ "$owned_after" -gt "$owned_before" ] || { echo "the address owns no new Blob object ($owned_before, then $owned_after)"; exit 1; }

"$bin" umount "$work/mnt"
wait

echo "== what a renewal pass would send now"
"$bin" chain renew --dry-run "${net[@]}" --state-dir "$work/state"
echo "smoke test passed"
