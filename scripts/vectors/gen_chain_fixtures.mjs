// Reference fixtures for walrusfs chain sync: Sui transactions, Walrus Move objects, dynamic-field
// IDs, events and TypeTags. Own code (no SDK code copied); it hand-encodes no bytes: every recorded
// byte is serialized by the official npm packages (the oracles):
//   @mysten/sui@2.33.1     Transaction (offline build()), Inputs, coinWithBalance, Ed25519Keypair,
//                          verifyTransactionSignature, messageWithIntent, TransactionDataBuilder
//                          (digest), bcs.TransactionData / bcs.TypeTag / bcs.struct / bcs.u64 ...,
//                          deriveDynamicFieldID, toBase58
//   @mysten/walrus@1.2.13  its Move-generated BCS structs (dist/contracts/walrus/*.mjs, not
//                          exported; imported by file URL): Blob, Storage, System, Staking,
//                          SystemStateInnerV1, StakingInnerV1, StakingPool, Metadata, Balance;
//                          Field<K,V> and blobIdFromInt/blobIdToInt from dist/utils/bcs.mjs
// Two layouts have no generated struct in walrus-ts 1.2.13 and are composed here from sui-ts bcs
// primitives (field order from the Move source, see "notes" in the output): the walrus events
// (walrus-ts ships no events module) and 0x2::coin::Coin<T> ({id, balance: walrus-ts Balance}).
// Checks (the script throws on any mismatch): signature verification (sui-ts, and node:crypto
// ed25519 over the captured signing digest), Transaction.from(bytes).build() == bytes,
// parse(serialize(x)) round trips, expected lengths (Blob 127/131, Storage 48, signature 97),
// the epoch offset inside StakingInnerV1, chain identifiers vs CHAIN.md, walrus-ts generated
// Move-call wrappers vs plain tx.moveCall.
// Deterministic: IDs = '0x' + sha256('walrusfs fixture ' + name) (e.g. 'walrusfs fixture blob 1');
// object digests = base58(sha256('walrusfs fixture digest ' + name)); keys from seeds
// sha256('walrusfs fixture key N'), N = 0, 1; fixed ValidDuring nonce. No network access at all.
//
// Setup (outside the repo; the npm registry is the only network use):
//   mkdir -p /tmp/chainfix && cd /tmp/chainfix && npm init -y \
//     && npm install @mysten/sui@2.33.1 @mysten/walrus@1.2.13
// Run (from that directory, so the packages resolve; ~1 s; Node 20 works despite engines >=22):
//   cp $REPO/scripts/vectors/gen_chain_fixtures.mjs . \
//     && node gen_chain_fixtures.mjs > $REPO/chainsync/sui/testdata/chain_fixtures.json
//   ($REPO is this repository's checkout.)
// Progress goes to stderr, the JSON to stdout.
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { Transaction, TransactionDataBuilder, coinWithBalance } from '@mysten/sui/transactions';
import { bcs } from '@mysten/sui/bcs';
import { Ed25519Keypair } from '@mysten/sui/keypairs/ed25519';
import { verifyTransactionSignature } from '@mysten/sui/verify';
import { decodeSuiPrivateKey, messageWithIntent } from '@mysten/sui/cryptography';
import { deriveDynamicFieldID, normalizeStructTag, normalizeTypeTag, toBase58, fromBase58 } from '@mysten/sui/utils';

const log = (...a) => console.error('[gen_chain_fixtures]', ...a);
function check(cond, msg) { if (!cond) throw new Error('SELF-CHECK FAILED: ' + msg); }

// ---------- package versions (fail if the wrong ones are installed) ----------
const require = createRequire(import.meta.url);
const pkgVersion = (name) => {
  let d = dirname(require.resolve(name === '@mysten/sui' ? '@mysten/sui/bcs' : name));
  for (;;) {
    try {
      const p = JSON.parse(readFileSync(join(d, 'package.json'), 'utf8'));
      if (p.name === name) return p.version;
    } catch {}
    const up = dirname(d);
    if (up === d) throw new Error(`package.json of ${name} not found`);
    d = up;
  }
};
const PACKAGES = { '@mysten/sui': '2.33.1', '@mysten/walrus': '1.2.13' };
for (const [n, v] of Object.entries(PACKAGES)) check(pkgVersion(n) === v, `${n} is ${pkgVersion(n)}, need ${v}`);

// walrus-ts generated structs (not exported by the package): import by file URL
const W = (p) => import(new URL(p, import.meta.resolve('@mysten/walrus')));
const { Blob } = await W('./contracts/walrus/blob.mjs');
const { Storage } = await W('./contracts/walrus/storage_resource.mjs');
const { System, extendBlob: wExtendBlob, deleteBlob: wDeleteBlob } = await W('./contracts/walrus/system.mjs');
const { Staking } = await W('./contracts/walrus/staking.mjs');
const { SystemStateInnerV1 } = await W('./contracts/walrus/system_state_inner.mjs');
const { StakingInnerV1 } = await W('./contracts/walrus/staking_inner.mjs');
const { StakingPool } = await W('./contracts/walrus/staking_pool.mjs');
const { Metadata } = await W('./contracts/walrus/metadata.mjs');
const { Balance } = await W('./contracts/walrus/deps/sui/balance.mjs');
const { Field, blobIdFromInt, blobIdToInt } = await W('./utils/bcs.mjs');

// ---------- helpers ----------
const utf8 = (s) => new TextEncoder().encode(s);
const sha = (s) => createHash('sha256').update(typeof s === 'string' ? utf8(s) : s).digest();
const hex = (u8) => Buffer.from(u8).toString('hex');
const b64 = (u8) => Buffer.from(u8).toString('base64');
const oid = (label) => '0x' + hex(sha('walrusfs fixture ' + label));
const odig = (label) => toBase58(sha('walrusfs fixture digest ' + label));
const ref = (label, version) => ({ objectId: oid(label), version: String(version), digest: odig(label) });
const bytesN = (label, n) => { // n deterministic bytes: sha256(label/0) || sha256(label/1) || ...
  const out = [];
  for (let i = 0; out.length < n; i++) out.push(...sha(`walrusfs fixture ${label}/${i}`));
  return Uint8Array.from(out.slice(0, n));
};
const eq = (a, b) => Buffer.from(a).equals(Buffer.from(b));
function jsonSafe(v) {
  if (typeof v === 'bigint') return v.toString();
  if (v instanceof Uint8Array) return b64(v);
  if (Array.isArray(v)) return v.map(jsonSafe);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, jsonSafe(x)]));
  return v;
}
const notes = [];
const note = (s) => { notes.push(s); log('note:', s); };

// ---------- network constants (CHAIN.md §1) ----------
const MAIN = {
  system: '0x2134d52768ea07e8c43570ef975eb3e4c27a39fa6396bef985b5abc58d03ddd2',
  staking: '0x10b9d30c28448939ce6c4d6c6e0ffce4a7f8a4ada8248bdad09ef8b70e4a3904',
  original: '0xfdc88f7d7cf30afab2f82e8380d11ee8f70efb90e863d1de8616fae1bb09ea77',
  package: '0x98da433aa0139512c210597b1c5e3df6cd121d8d77f8652691bb66fadfc8aa1b',
  wal: '0x356a26eb9e012a68958082340d4c4116e7f55615cf27affcff209cf0ae544f59::wal::WAL',
  // genesis checkpoint digest = what sui-ts getChainIdentifier() returns and ValidDuring.chain holds
  chain: '4btiuiMPvEENsttpZC7CZ53DruC3MAgfznDbASZ7DR6S', chainIdHex: '35834a8a',
};
const TEST = {
  system: '0x6c2547cbbc38025cf3adac45f63cb0a8d12ecf777cdc75a4971612bf97fdf6af',
  staking: '0xbe46180321c30aab2f8b3501e24048377287fa708018a5b7c2792b35fe339ee3',
  chain: '69WiPg3DAQiwdxfncX6wYQ2siKwAe6L9BZthQea3JNMD', chainIdHex: '4c78adac',
};
for (const n of [MAIN, TEST]) check(hex(fromBase58(n.chain)).startsWith(n.chainIdHex) && fromBase58(n.chain).length === 32, 'chain digest vs chain id ' + n.chainIdHex);
const SYSTEM_ISV = '373'; // initial shared version of the System object used in every fixture (fixed, not the live value)
const GAS_PRICE = '1000';
const GAS_BUDGET = '50000000';

// =====================================================================
// keys
// =====================================================================
log('keys');
const keypairs = [];
const keys = [0, 1].map((n) => {
  const seed = sha(`walrusfs fixture key ${n}`);
  const kp = Ed25519Keypair.fromSecretKey(seed);
  const suiprivkey = kp.getSecretKey();
  const dec = decodeSuiPrivateKey(suiprivkey);
  check(dec.scheme === 'ED25519' && eq(dec.secretKey, seed), 'suiprivkey round trip');
  check(Ed25519Keypair.fromSecretKey(suiprivkey).toSuiAddress() === kp.toSuiAddress(), 'suiprivkey -> address');
  keypairs.push(kp);
  return {
    seed_hex: hex(seed),
    suiprivkey,
    keystore: b64(Uint8Array.from([0x00, ...dec.secretKey])),
    public_key_base64: kp.getPublicKey().toBase64(),
    address: kp.toSuiAddress(),
  };
});

// =====================================================================
// transactions
// =====================================================================
const systemArg = (mutable) => ({ objectId: MAIN.system, initialSharedVersion: SYSTEM_ISV, mutable });
const target = (pkg, mod, fn) => `${pkg}::${mod}::${fn}`;
const expirationJSON = (e) => {
  if (!e) return { kind: 'None' };
  if ('Epoch' in e) return { kind: 'Epoch', epoch: String(e.Epoch) };
  if ('ValidDuring' in e) return { kind: 'ValidDuring', ...e.ValidDuring };
  throw new Error('unknown expiration');
};

async function finish({ name, description, key, params, gas, expiration, build, buildOptions = {} }) {
  log('tx', name);
  const kp = keypairs[key];
  const tx = new Transaction();
  build(tx);
  tx.setSender(kp.toSuiAddress());
  tx.setGasPrice(gas.price);
  tx.setGasBudget(gas.budget);
  tx.setGasPayment(gas.payment);
  if (expiration) tx.setExpiration(expiration);
  const bytes = await tx.build(buildOptions);
  const digest = await tx.getDigest(buildOptions);
  check(digest === TransactionDataBuilder.getDigestFromBytes(bytes), name + ': digest');
  // signing: capture the 32-byte digest sui-ts hands to the ed25519 signer
  let signingDigest = null;
  const origSign = kp.sign.bind(kp);
  kp.sign = async (d) => { signingDigest = Uint8Array.from(d); return origSign(d); };
  const { signature } = await kp.signTransaction(bytes);
  kp.sign = origSign;
  check(signingDigest && signingDigest.length === 32, name + ': signing digest captured');
  const sigBytes = Buffer.from(signature, 'base64');
  check(sigBytes.length === 97 && sigBytes[0] === 0x00, name + ': 97-byte ed25519 signature');
  check(eq(sigBytes.subarray(65), kp.getPublicKey().toRawBytes()), name + ': signature carries the public key');
  await verifyTransactionSignature(bytes, signature, { address: kp.toSuiAddress() });
  const spki = createPublicKey({ key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), Buffer.from(kp.getPublicKey().toRawBytes())]), format: 'der', type: 'spki' });
  check(edVerify(null, signingDigest, spki, sigBytes.subarray(1, 65)), name + ': node:crypto verifies the signature over the captured digest');
  check(eq(messageWithIntent('TransactionData', bytes), Uint8Array.from([0, 0, 0, ...bytes])), name + ': intent prefix 000000');
  // decoded + round trips
  const decoded = bcs.TransactionData.parse(bytes);
  check(eq(bcs.TransactionData.serialize(decoded).toBytes(), bytes), name + ': TransactionData parse/serialize round trip');
  check(eq(await Transaction.from(bytes).build(buildOptions), bytes), name + ': Transaction.from(bytes).build() round trip');
  const v1 = decoded.V1;
  check(v1.sender === kp.toSuiAddress() && v1.gasData.owner === kp.toSuiAddress(), name + ': sender/gas owner');
  return {
    tx: {
      name, description, key, params,
      gas: { payment: gas.payment, owner: v1.gasData.owner, price: String(gas.price), budget: String(gas.budget) },
      expiration: expirationJSON(expiration),
      tx_bytes_base64: b64(bytes),
      digest,
      signing_digest_hex: hex(signingDigest),
      signature_base64: signature,
      decoded: jsonSafe(decoded),
    },
    bytes, decoded,
  };
}
const pt = (d) => d.V1.kind.ProgrammableTransaction;
const inputKinds = (d) => pt(d).inputs.map((i) => i.$kind === 'Object' ? i.Object.$kind : i.$kind);

const transactions = [];
const addrOf = (k) => keys[k].address;
const gasRefs = (k, n) => Array.from({ length: n }, (_, i) => ref(`gas key${k} coin${i + 1}`, 401000000 + 1000 * k + 17 * i));

// ---- 1. renew_coins
{
  const p = {
    package: MAIN.package, system: systemArg(true), wal_type: MAIN.wal,
    wal_coins: [ref('wal 1', 400117001), ref('wal 2', 400117002)],
    payment_cap: '2500000000',
    blobs: [ref('blob 1', 400200001), ref('blob 2', 400200002), ref('blob 3', 400200003)],
    epochs: [5, 12, 3],
  };
  const build = (tx) => {
    const wal0 = tx.objectRef(p.wal_coins[0]);
    tx.mergeCoins(wal0, [tx.objectRef(p.wal_coins[1])]);
    const [payment] = tx.splitCoins(wal0, [tx.pure.u64(p.payment_cap)]);
    p.blobs.forEach((b, i) => tx.moveCall({
      target: target(p.package, 'system', 'extend_blob'),
      arguments: [tx.sharedObjectRef(p.system), tx.objectRef(b), tx.pure.u32(p.epochs[i]), payment],
    }));
    tx.mergeCoins(wal0, [payment]);
  };
  const r = await finish({
    name: 'renew_coins',
    description: 'Pay WAL from two coins and extend 3 blobs: MergeCoins(wal0,[wal1]); SplitCoins(wal0,[u64 payment_cap]) -> NestedResult(1,0); extend_blob(system shared mut, blob_i, u32 epochs_i, payment) x3; MergeCoins(wal0,[payment]). Two sender-owned gas coins. Inputs in order of first use: wal0, wal1, payment_cap, system, blob1, epochs1, blob2, epochs2, blob3, epochs3 (System appears once: sui-ts dedups object inputs by ID).',
    key: 0, params: p, gas: { payment: gasRefs(0, 2), price: GAS_PRICE, budget: GAS_BUDGET }, build,
  });
  check(pt(r.decoded).inputs.length === 10, 'renew_coins: 10 inputs');
  // cross-check: walrus-ts's generated extend_blob wrapper yields the same bytes
  const r2 = await finish({
    name: 'renew_coins(walrus-ts wrapper)', description: '', key: 0, params: p,
    gas: { payment: gasRefs(0, 2), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => {
      const wal0 = tx.objectRef(p.wal_coins[0]);
      tx.mergeCoins(wal0, [tx.objectRef(p.wal_coins[1])]);
      const [payment] = tx.splitCoins(wal0, [tx.pure.u64(p.payment_cap)]);
      p.blobs.forEach((b, i) => {
        const self = tx.sharedObjectRef(p.system); const blob = tx.objectRef(b);
        tx.add(wExtendBlob({ package: p.package, arguments: { self, blob, extendedEpochs: p.epochs[i], payment } }));
      });
      tx.mergeCoins(wal0, [payment]);
    },
  });
  check(eq(r.bytes, r2.bytes), 'renew_coins: walrus-ts extendBlob wrapper gives identical bytes');
  transactions.push(r.tx);
}

// ---- 2. renew_one_coin
{
  const p = {
    package: MAIN.package, system: systemArg(true), wal_type: MAIN.wal,
    wal_coins: [ref('wal 3', 400117003)], payment_cap: '600000000',
    blobs: [ref('blob 4', 400200004)], epochs: [53],
  };
  const r = await finish({
    name: 'renew_one_coin',
    description: 'One WAL coin, one blob, Epoch expiration: SplitCoins(wal0,[u64 payment_cap]) -> NestedResult(0,0); extend_blob(system shared mut, blob, u32 epochs, payment); MergeCoins(wal0,[payment]).',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    expiration: { Epoch: '812' },
    build: (tx) => {
      const wal0 = tx.objectRef(p.wal_coins[0]);
      const [payment] = tx.splitCoins(wal0, [tx.pure.u64(p.payment_cap)]);
      tx.moveCall({ target: target(p.package, 'system', 'extend_blob'), arguments: [tx.sharedObjectRef(p.system), tx.objectRef(p.blobs[0]), tx.pure.u32(p.epochs[0]), payment] });
      tx.mergeCoins(wal0, [payment]);
    },
  });
  transactions.push(r.tx);
}

// ---- 3. renew_address_balance (SIP-58)
{
  const sender = addrOf(0);
  const p = {
    package: MAIN.package, system: systemArg(true), wal_type: MAIN.wal,
    withdrawal: { amount: '9007199254740993', type: MAIN.wal, from: 'sender' },
    blobs: [ref('blob 5', 400200005), ref('blob 6', 400200006)], epochs: [7, 26],
    remainder_recipient: sender,
    redeem_target: '0x2::coin::redeem_funds', send_target: '0x2::coin::send_funds',
  };
  const validDuring = { ValidDuring: { minEpoch: '812', maxEpoch: '813', minTimestamp: null, maxTimestamp: null, chain: MAIN.chain, nonce: 3735928559 } };
  const r = await finish({
    name: 'renew_address_balance',
    description: 'WAL and gas from the sender\'s address balance (SIP-58). Input 0 is a FundsWithdrawal made with the public sui-ts API tx.withdrawal({amount, type: WAL}) (reservation MaxAmountU64, typeArg Balance(<coin type T>), withdrawFrom Sender). Commands: 0x2::coin::redeem_funds<WAL>(Input 0) -> Result(0) (a Coin<WAL>); extend_blob(system shared mut, blob_i, u32 epochs_i, Result(0)) x2; 0x2::coin::send_funds<WAL>(Result(0), pure address sender) returns the remainder to the address balance (the function sui-ts\'s own CoinWithBalance resolver emits). Gas: empty payment list, owner = sender; sui-ts then requires an expiration to build offline, and its resolver (with a client) fills in ValidDuring {minEpoch: current Sui epoch, maxEpoch: current+1, no timestamps, chain: genesis checkpoint digest (base58), random u32 nonce}; here those are fixed (Mainnet chain, epochs 812/813, nonce 0xdeadbeef).',
    key: 0, params: { ...p, gas_from_address_balance: true }, gas: { payment: [], price: GAS_PRICE, budget: GAS_BUDGET },
    expiration: validDuring,
    build: (tx) => {
      const coin = tx.moveCall({ target: p.redeem_target, typeArguments: [p.wal_type], arguments: [tx.withdrawal({ amount: p.withdrawal.amount, type: p.wal_type })] });
      p.blobs.forEach((b, i) => tx.moveCall({ target: target(p.package, 'system', 'extend_blob'), arguments: [tx.sharedObjectRef(p.system), tx.objectRef(b), tx.pure.u32(p.epochs[i]), coin] }));
      tx.moveCall({ target: p.send_target, typeArguments: [p.wal_type], arguments: [coin, tx.pure.address(sender)] });
    },
  });
  check(inputKinds(r.decoded)[0] === 'FundsWithdrawal', 'renew_address_balance: input 0 is FundsWithdrawal');
  check(r.decoded.V1.gasData.payment.length === 0, 'renew_address_balance: empty gas payment');
  // locate the FundsWithdrawal CallArg bytes inside the transaction (sui-ts serializes it alone too)
  const fwArg = bcs.CallArg.serialize(pt(r.decoded).inputs[0]).toBytes();
  const at = Buffer.from(r.bytes).indexOf(Buffer.from(fwArg));
  check(at > 0, 'FundsWithdrawal CallArg found in tx bytes');
  const typeTagBytes = bcs.TypeTag.serialize(p.wal_type).toBytes();
  const expectFw = Uint8Array.from([2, 0, ...bcs.u64().serialize(p.withdrawal.amount).toBytes(), 0, ...typeTagBytes, 0]);
  check(eq(fwArg, expectFw), 'FundsWithdrawal layout: 02 | 00 u64 | 00 TypeTag(T) | 00');
  note(`FundsWithdrawal (sui-ts 2.33.1 bcs.CallArg variant 2) = struct {reservation: enum Reservation {MaxAmountU64(u64)=0}, typeArg: enum WithdrawalType {Balance(TypeTag)=0}, withdrawFrom: enum WithdrawFrom {Sender=0, Sponsor=1, SenderAllowance{funder: address, allowance: address}=2}}. The TypeTag is the coin type T itself (e.g. ...::wal::WAL), not Balance<T>; Move sees the input as Withdrawal<Balance<T>>. In renew_address_balance the input is the ${fwArg.length} bytes ${hex(fwArg)} (02 = CallArg::FundsWithdrawal, 00 = MaxAmountU64, u64 LE amount, 00 = Balance, TypeTag struct of WAL, 00 = Sender), at byte offset ${at} of the tx.`);
  const exp = bcs.TransactionExpiration.serialize(r.decoded.V1.expiration).toBytes();
  check(eq(r.bytes.subarray(r.bytes.length - exp.length), exp), 'ValidDuring is the tail of the tx bytes');
  note(`ValidDuring (TransactionExpiration variant 2) BCS = 02 | Option<u64> minEpoch | Option<u64> maxEpoch | Option<u64> minTimestamp | Option<u64> maxTimestamp | chain: vector<u8> of the 32-byte genesis checkpoint digest (ULEB 0x20 + 32 bytes; sui-ts takes/returns it as base58, the same string getChainIdentifier() returns, e.g. Mainnet ${MAIN.chain}, whose first 4 bytes are the chain id ${MAIN.chainIdHex}) | nonce u32 LE. Here: ${hex(exp)}. Variant 3 'Validity' is the same plus allowedProposers: Option<{epoch u64, proposers vector<u32>}>.`);
  transactions.push(r.tx);

  // informational: what sui-ts's own coinWithBalance intent produces from the address balance
  const tx = new Transaction();
  tx.setSender(sender); tx.setGasPrice(GAS_PRICE); tx.setGasBudget(GAS_BUDGET); tx.setGasPayment([]); tx.setExpiration(validDuring);
  const c = tx.add(coinWithBalance({ type: MAIN.wal, balance: 1000000000n }));
  tx.moveCall({ target: target(MAIN.package, 'system', 'extend_blob'), arguments: [tx.sharedObjectRef(p.system), tx.objectRef(p.blobs[0]), tx.pure.u32(7), c] });
  tx.moveCall({ target: '0x2::coin::destroy_zero', typeArguments: [MAIN.wal], arguments: [c] });
  const d = bcs.TransactionData.parse(await tx.build({ assumeSufficientAddressBalances: true }));
  note(`For comparison (not a fixture): sui-ts's public coinWithBalance({type: WAL, balance}) intent, built offline with build({assumeSufficientAddressBalances: true}), resolves to: ${summarize(d)}. I.e. redeem_funds(total) -> Result, SplitCoins(that, [balance]), coin::send_funds(remainder Result, sender) right away, then the caller uses the split coin; walrus-ts 1.2.13's #withWal (extendBlob without walCoin) adds coin::destroy_zero on it afterwards. Without assumeSufficientAddressBalances sui-ts needs a client (getBalance/listCoins) and falls back to owned coins when the address balance is short.`);
  note('Address-balance gas in sui-ts 2.33.1: needsTransactionResolution() lets an empty payment list build offline only if an expiration is set (any kind; it does not check that it is ValidDuring). With a client, core-resolver sets payment [] only when the transaction does not use GasCoin and addressBalance >= budget + SUI withdrawals, and then adds ValidDuring {minEpoch: epoch, maxEpoch: epoch+1, minTimestamp/maxTimestamp null, chain: genesis digest, nonce random u32}. If the transaction uses GasCoin, the resolver instead puts a synthetic "coin reservation" ObjectRef first in the payment list (objectId = dynamic-field ID of 0x2::accumulator::Key<Balance<SUI>> under 0xacc for the owner XOR the chain digest, version 0, digest = u64 LE amount | u32 LE epoch | 20 bytes 0xac); that variant is not a fixture here.');
}

// ---- 4. delete_blobs
{
  const p = { package: MAIN.package, system: systemArg(false), blobs: [ref('blob 7', 400200007), ref('blob 8', 400200008)] };
  const r = await finish({
    name: 'delete_blobs',
    description: 'For 2 deletable blobs: delete_blob(system shared IMMUTABLE, blob_i) -> Result(k) (a Storage; sui-ts gives a single-result call a plain Result, not NestedResult); storage_resource::destroy(Result(k)). Order: delete, destroy, delete, destroy.',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => p.blobs.forEach((b) => {
      const storage = tx.moveCall({ target: target(p.package, 'system', 'delete_blob'), arguments: [tx.sharedObjectRef(p.system), tx.objectRef(b)] });
      tx.moveCall({ target: target(p.package, 'storage_resource', 'destroy'), arguments: [storage] });
    }),
  });
  const r2 = await finish({
    name: 'delete_blobs(walrus-ts wrapper)', description: '', key: 0, params: p,
    gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => p.blobs.forEach((b) => {
      const self = tx.sharedObjectRef(p.system); const blob = tx.objectRef(b);
      const storage = tx.add(wDeleteBlob({ package: p.package, arguments: { self, blob } }));
      tx.moveCall({ target: target(p.package, 'storage_resource', 'destroy'), arguments: [storage] });
    }),
  });
  check(eq(r.bytes, r2.bytes), 'delete_blobs: walrus-ts deleteBlob wrapper gives identical bytes');
  check(pt(r.decoded).inputs[0].Object.SharedObject.mutable === false, 'delete_blobs: System immutable');
  transactions.push(r.tx);
}

// ---- 5. burn_blobs
{
  const p = { package: MAIN.package, blobs: [ref('blob 9', 400200009), ref('blob 10', 400200010), ref('blob 11', 400200011)] };
  const r = await finish({
    name: 'burn_blobs', description: 'blob::burn(blob_i) for 3 blobs, sent by key 1.',
    key: 1, params: p, gas: { payment: gasRefs(1, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => p.blobs.forEach((b) => tx.moveCall({ target: target(p.package, 'blob', 'burn'), arguments: [tx.objectRef(b)] })),
  });
  transactions.push(r.tx);
}

// ---- 6. merge_wal
{
  const p = { wal_type: MAIN.wal, wal_coins: [ref('wal 4', 400117004), ref('wal 5', 400117005), ref('wal 6', 400117006)] };
  const r = await finish({
    name: 'merge_wal', description: 'MergeCoins(wal0, [wal1, wal2]).',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => tx.mergeCoins(tx.objectRef(p.wal_coins[0]), [tx.objectRef(p.wal_coins[1]), tx.objectRef(p.wal_coins[2])]),
  });
  transactions.push(r.tx);
}

// ---- 7. transfer_sui
{
  const p = { amount: '1000000000', recipient: addrOf(1) };
  const r = await finish({
    name: 'transfer_sui', description: 'SplitCoins(GasCoin, [u64 amount]) -> TransferObjects([NestedResult(0,0)], pure address recipient = keys[1].address).',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => { const [c] = tx.splitCoins(tx.gas, [tx.pure.u64(p.amount)]); tx.transferObjects([c], tx.pure.address(p.recipient)); },
  });
  transactions.push(r.tx);
}

// ---- 8. transfer_wal
{
  const p = { wal_type: MAIN.wal, wal_coins: [ref('wal 7', 400117007)], amount: '9007199254740993', recipient: addrOf(0) };
  const r = await finish({
    name: 'transfer_wal', description: 'SplitCoins(wal0, [u64 amount]) -> TransferObjects([NestedResult(0,0)], recipient = keys[0].address); sent by key 1; amount 2^53+1 to catch float64 loss.',
    key: 1, params: p, gas: { payment: gasRefs(1, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => { const [c] = tx.splitCoins(tx.objectRef(p.wal_coins[0]), [tx.pure.u64(p.amount)]); tx.transferObjects([c], tx.pure.address(p.recipient)); },
  });
  transactions.push(r.tx);
}

// ---- 9. extend_and_delete_mixed (+ reversed order)
for (const reversed of [false, true]) {
  const p = {
    package: MAIN.package, system: systemArg(true), wal_type: MAIN.wal,
    wal_coins: [ref('wal 8', 400117008)],
    extend_blob: ref('blob 12', 400200012), epochs: 4,
    delete_blob: ref('blob 13', 400200013),
    order: reversed ? 'delete,destroy,extend' : 'extend,delete,destroy',
  };
  const extend = (tx) => tx.moveCall({ target: target(p.package, 'system', 'extend_blob'), arguments: [tx.sharedObjectRef(systemArg(true)), tx.objectRef(p.extend_blob), tx.pure.u32(p.epochs), tx.objectRef(p.wal_coins[0])] });
  const del = (tx) => {
    const s = tx.moveCall({ target: target(p.package, 'system', 'delete_blob'), arguments: [tx.sharedObjectRef(systemArg(false)), tx.objectRef(p.delete_blob)] });
    tx.moveCall({ target: target(p.package, 'storage_resource', 'destroy'), arguments: [s] });
  };
  const r = await finish({
    name: reversed ? 'extend_and_delete_mixed_reversed' : 'extend_and_delete_mixed',
    description: reversed
      ? 'Same as extend_and_delete_mixed but the immutable use comes first: delete_blob(system imm, blob_b) -> Result(0); destroy(Result(0)); extend_blob(system mut, blob_a, u32, wal0). sui-ts keeps the single System input (index 0) and upgrades it in place to mutable = true when the mutable use is added; so the Go builder must mark it mutable once any use is mutable, regardless of order.'
      : 'System used mutably then immutably: extend_blob(system mut, blob_a, u32 epochs, wal0 coin passed directly as &mut Coin); delete_blob(system imm, blob_b) -> Result(1); storage_resource::destroy(Result(1)). sui-ts dedups the System input and ORs the mutable flags: it stays mutable = true.',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => { if (reversed) { del(tx); extend(tx); } else { extend(tx); del(tx); } },
  });
  const shared = pt(r.decoded).inputs.filter((i) => i.Object?.SharedObject);
  check(shared.length === 1 && shared[0].Object.SharedObject.mutable === true, r.tx.name + ': one System input, mutable');
  transactions.push(r.tx);
}
note('Shared-object mutability: Transaction.object() finds an existing input with the same object ID and, if both are SharedObject CallArgs, sets inserted.mutable = inserted.mutable || new.mutable in place. The merged flag is therefore true as soon as any use is mutable, whichever comes first (fixtures extend_and_delete_mixed and extend_and_delete_mixed_reversed). The input keeps the position of its first use.');

// ---- pure_dedup
{
  const p = {
    package: MAIN.package, system: systemArg(true), wal_type: MAIN.wal,
    wal_coins: [ref('wal 9', 400117009)], blobs: [ref('blob 14', 400200014), ref('blob 15', 400200015)], epochs: 5,
  };
  const r = await finish({
    name: 'pure_dedup',
    description: 'Two extend_blob calls with the same u32 epochs (tx.pure.u32(5) called twice) and the same WAL coin object passed directly as payment both times. Inputs come out as: system, blob_a, u32 5, wal0, blob_b, u32 5: sui-ts does NOT deduplicate identical pure values (two Pure inputs), but does deduplicate the object (wal0 and the System each appear once).',
    key: 0, params: p, gas: { payment: gasRefs(0, 1), price: GAS_PRICE, budget: GAS_BUDGET },
    build: (tx) => p.blobs.forEach((b) => tx.moveCall({ target: target(p.package, 'system', 'extend_blob'), arguments: [tx.sharedObjectRef(p.system), tx.objectRef(b), tx.pure.u32(p.epochs), tx.objectRef(p.wal_coins[0])] })),
  });
  const kinds = inputKinds(r.decoded);
  check(JSON.stringify(kinds) === JSON.stringify(['SharedObject', 'ImmOrOwnedObject', 'Pure', 'ImmOrOwnedObject', 'ImmOrOwnedObject', 'Pure']), 'pure_dedup input kinds ' + kinds);
  transactions.push(r.tx);
  note('Pure inputs are never deduplicated by sui-ts 2.33.1: every tx.pure(...) call (and every raw number given to a walrus-ts generated wrapper) appends a new Pure input, even with identical bytes (fixture pure_dedup: inputs 2 and 5 are both u32 5). Objects are deduplicated by normalized object ID across tx.object/objectRef/sharedObjectRef (and across owned refs with the same ID, the first ref wins); gas payment coins are not inputs and are not checked against inputs offline.');
}
note('Inputs are numbered in the order the tx.pure/tx.object*/tx.withdrawal calls run, which for tx.moveCall({arguments: [...]}) is the argument order; a single-result Move call used later is Result(i), destructuring splitCoins gives NestedResult(i, j). With setGasPayment/Price/Budget, setSender and no client, build() runs no resolution, so the bytes are exactly what was added.');

// =====================================================================
// objects
// =====================================================================
log('objects');
const objects = [];
function addObject(name, type, schema, value, { expectLen, extra } = {}) {
  const bytes = schema.serialize(value).toBytes();
  const parsed = schema.parse(bytes);
  check(eq(schema.serialize(parsed).toBytes(), bytes), name + ': parse/serialize round trip');
  if (expectLen !== undefined) check(bytes.length === expectLen, `${name}: length ${bytes.length} != ${expectLen}`);
  const o = { name, type, fields: jsonSafe(parsed), contents_base64: b64(bytes), ...(extra ?? {}) };
  objects.push(o);
  return { bytes, parsed };
}
const blobIdOf = (label) => { const b = sha('walrusfs fixture blob id ' + label); const s = Buffer.from(b).toString('base64url'); const n = blobIdToInt(s); check(blobIdFromInt(n) === s, 'blob id int round trip'); return { n, s, b }; };
// full Move type string: sui-ts bcs.TypeTag round trip (TypeTagSerializer.parseFromStr(s, true) then
// tagToString): full-length addresses, ", " between type parameters
const T = (s) => bcs.TypeTag.parse(bcs.TypeTag.serialize(s).toBytes());
const BLOB_T = T(Blob.typeTag({ package: MAIN.original }));

const bid1 = blobIdOf(1);
const storageIn = (label, start, end, size) => ({ id: oid(label), start_epoch: start, end_epoch: end, storage_size: String(size) });
const { bytes: blob1Bytes } = addObject('blob_uncertified', BLOB_T, Blob, {
  id: oid('blob 1'), registered_epoch: 7, blob_id: bid1.n, size: '1024', encoding_type: 1, certified_epoch: null,
  storage: storageIn('storage of blob 1', 7, 12, 66034000), deletable: true,
}, { expectLen: 127, extra: { blob_id_base64url: bid1.s } });
check(eq(blob1Bytes.subarray(36, 68), bid1.b), 'Blob.blob_id (u256 LE at byte 36) = the 32 bytes behind the base64url blob ID');
note('Blob.blob_id: the u256 (LE) bytes at offset 36 of the Blob contents are exactly the 32 bytes the base64url blob ID decodes to (walrus-ts blobIdToInt/blobIdFromInt; objects[].blob_id_base64url), as CHAIN.md §2 says.');
const bid2 = blobIdOf(2);
addObject('blob_certified', BLOB_T, Blob, {
  id: oid('blob 2'), registered_epoch: 5, blob_id: bid2.n, size: '734003200', encoding_type: 1, certified_epoch: 5,
  storage: storageIn('storage of blob 2', 5, 58, 3674735616), deletable: false,
}, { expectLen: 131, extra: { blob_id_base64url: bid2.s } });
addObject('storage', T(Storage.typeTag({ package: MAIN.original })), Storage, storageIn('storage 3', 7, 60, 1073741824), { expectLen: 48 });

const SYSTEM_T = T(System.typeTag({ package: MAIN.original }));
addObject('system', SYSTEM_T, System, { id: MAIN.system, version: '3', package_id: MAIN.package, new_package_id: null }, { expectLen: 32 + 8 + 32 + 1 });
addObject('system_v4_upgrade', SYSTEM_T, System, { id: MAIN.system, version: '3', package_id: MAIN.package, new_package_id: oid('package v4') }, { expectLen: 32 + 8 + 32 + 1 + 32 });
addObject('staking', T(Staking.typeTag({ package: MAIN.original })), Staking, { id: MAIN.staking, version: '3', package_id: MAIN.package, new_package_id: null }, { expectLen: 73 });

// committee: 4 nodes, shard weights 250/300/200/250 (sum = n_shards = 1000)
const NODES = [1, 2, 3, 4].map((k) => oid('node ' + k));
const WEIGHTS = [250, 300, 200, 250];
const g1u = (k) => ({ bytes: Array.from(bytesN('bls uncompressed g1 node ' + k, 96)) });
const shardRanges = (sizes) => { let s = 0; return sizes.map((n) => { const r = Array.from({ length: n }, (_, i) => s + i); s += n; return r; }); };
const committeeOf = (sizes) => [{ contents: shardRanges(sizes).map((shards, i) => ({ key: NODES[i], value: shards })) }];

const ring = Array.from({ length: 53 }, (_, k) => k); // positions
const CUR = 2;
const futureAccounting = {
  current_index: CUR, length: 53,
  ring_buffer: ring.map((pos) => {
    const k = (pos - CUR + 53) % 53; // epochs ahead of the current one
    return { epoch: 7 + k, used_capacity: String(1759218604441600n - 30000000000000n * BigInt(k)), rewards_to_distribute: { value: String(52000000000000n - 900000000000n * BigInt(k)) } };
  }),
};
const eventBlob = { blob_id: blobIdOf('event blob').n, ending_checkpoint_sequence_number: '187654321' };
const systemInner = {
  committee: {
    members: NODES.map((node_id, i) => ({ public_key: g1u(i + 1), weight: WEIGHTS[i], node_id })),
    n_shards: 1000, epoch: 7,
    total_aggregated_key: { bytes: Array.from(bytesN('bls aggregate g1 compressed', 48)) },
  },
  total_capacity_size: '12000000000000000',
  used_capacity_size: '1759218604441600',
  storage_price_per_unit_size: '11000',
  write_price_per_unit_size: '20000',
  future_accounting: futureAccounting,
  event_blob_certification_state: {
    latest_certified_blob: eventBlob,
    aggregate_weight_per_blob: { contents: [{ key: { blob_id: blobIdOf('event blob next').n, ending_checkpoint_sequence_number: '187700000' }, value: 334 }] },
  },
  deny_list_sizes: { id: oid('deny list sizes') },
};
const SYS_INNER_T = T(SystemStateInnerV1.typeTag({ package: MAIN.original }));
addObject('system_inner_v1', SYS_INNER_T, SystemStateInnerV1, systemInner);
const sysFieldId = deriveDynamicFieldID(MAIN.system, 'u64', bcs.u64().serialize(3).toBytes());
addObject('system_inner_field', T(`0x2::dynamic_field::Field<u64, ${SYS_INNER_T}>`), Field(bcs.u64(), SystemStateInnerV1), { id: sysFieldId, name: '3', value: systemInner });

const STK_INNER_T = T(StakingInnerV1.typeTag({ package: MAIN.original }));
const stakingInner = (variant) => ({
  n_shards: 1000,
  epoch_duration: '1209600000',
  first_epoch_start: '1742914804744',
  pools: { id: oid('staking pools table'), size: '103' },
  epoch: 7,
  active_set: { id: oid('active set') },
  next_committee: variant === 'params_selected' ? committeeOf([250, 250, 250, 250]) : null,
  committee: committeeOf(WEIGHTS),
  previous_committee: committeeOf([300, 250, 200, 250]),
  next_epoch_params: variant === 'params_selected' ? { total_capacity_size: '12500000000000000', storage_price_per_unit_size: '11500', write_price_per_unit_size: '20000' } : null,
  epoch_state: variant === 'sync' ? { EpochChangeSync: 450 } : variant === 'params_selected' ? { NextParamsSelected: '1751381204744' } : { EpochChangeDone: '1751381290123' },
  next_epoch_public_keys: { id: oid('next epoch public keys') },
});
// the epoch offset, derived by serializing two values that differ only in `epoch`
function epochOffset(schema, mk) {
  const a = schema.serialize(mk(7)).toBytes(), b = schema.serialize(mk(0x01020304)).toBytes();
  const diff = [...a.keys()].filter((i) => a[i] !== b[i]);
  check(a.length === b.length && diff.length >= 1, 'epoch diff');
  return diff[0];
}
const offValue = epochOffset(StakingInnerV1, (e) => ({ ...stakingInner('done'), epoch: e }));
const stkFieldId = deriveDynamicFieldID(MAIN.staking, 'u64', bcs.u64().serialize(3).toBytes());
const StkField = Field(bcs.u64(), StakingInnerV1);
const offField = epochOffset(StkField, (e) => ({ id: stkFieldId, name: '3', value: { ...stakingInner('done'), epoch: e } }));
check(offValue === 58 && offField === 98, `StakingInnerV1.epoch offset ${offValue}/${offField}, CHAIN.md says 58/98`);
note(`StakingInnerV1.epoch (u32 LE) is at byte ${offValue} of the value and byte ${offField} of the Field<u64, StakingInnerV1> contents, derived by serializing two values that differ only in epoch with walrus-ts's StakingInnerV1 / Field structs: CHAIN.md's "byte 58 / byte 98" is confirmed.`);
addObject('staking_inner_v1', STK_INNER_T, StakingInnerV1, stakingInner('done'), { extra: { epoch_offset: offValue } });
addObject('staking_inner_field', T(`0x2::dynamic_field::Field<u64, ${STK_INNER_T}>`), StkField, { id: stkFieldId, name: '3', value: stakingInner('done') }, { extra: { epoch_offset: offField } });
addObject('staking_inner_epoch_state_sync', STK_INNER_T, StakingInnerV1, stakingInner('sync'), { extra: { epoch_offset: offValue } });
addObject('staking_inner_epoch_state_done', STK_INNER_T, StakingInnerV1, stakingInner('done'), { extra: { epoch_offset: offValue } });
addObject('staking_inner_epoch_state_params_selected', STK_INNER_T, StakingInnerV1, stakingInner('params_selected'), { extra: { epoch_offset: offValue } });

const pool = (state, nextKey) => ({
  id: NODES[0],
  state,
  voting_params: { storage_price: '11000', write_price: '20000', node_capacity: '300000000000000' },
  node_info: {
    name: 'walrusfs-fixture-node-1',
    node_id: NODES[0],
    network_address: 'node1.example:9185',
    public_key: g1u(1),
    next_epoch_public_key: nextKey ? g1u('1 next') : null,
    network_public_key: Array.from([0x02, ...bytesN('p256 network key node 1', 32)]),
    metadata: { id: oid('node 1 metadata') },
  },
  activation_epoch: 1,
  latest_epoch: 7,
  wal_balance: '15000000000000000',
  num_shares: '14873000000000000',
  pending_shares_withdraw: [{ contents: [] }],
  pre_active_withdrawals: [{ contents: [] }],
  pending_commission_rate: [{ contents: [{ key: 9, value: '500' }] }],
  commission_rate: 1000,
  exchange_rates: { id: oid('node 1 exchange rates'), size: '7' },
  pending_stake: [{ contents: [{ key: 8, value: '1000000000000' }] }],
  rewards_pool: { value: '123456789012' },
  commission: { value: '9876543210' },
  commission_receiver: { Address: addrOf(0) },
  governance_authorized: { ObjectID: oid('node 1 governance cap') },
  extra_fields: { id: oid('node 1 extra fields'), size: '0' },
});
const POOL_T = T(StakingPool.typeTag({ package: MAIN.original }));
addObject('staking_pool', POOL_T, StakingPool, pool({ Active: true }, false));
addObject('staking_pool_withdrawing', POOL_T, StakingPool, pool({ Withdrawing: 9 }, true));

// 0x2::coin::Coin<T> has no generated struct in either SDK: {id: UID, balance: Balance<T>}
const Coin = bcs.struct('Coin', { id: bcs.Address, balance: Balance });
addObject('coin_wal', T(`0x2::coin::Coin<${MAIN.wal}>`), Coin, { id: oid('wal 1'), balance: { value: '9007199254740993' } }, { expectLen: 40 });
addObject('coin_sui', T('0x2::coin::Coin<0x2::sui::SUI>'), Coin, { id: oid('gas key0 coin1'), balance: { value: '5000000000' } }, { expectLen: 40 });

const META_KEY = bcs.vector(bcs.u8()).serialize(Array.from(utf8('metadata'))).toBytes();
check(eq(META_KEY, bcs.string().serialize('metadata').toBytes()), 'metadata key: vector<u8> == walrus-ts bcs.string() form');
const metaFieldId = deriveDynamicFieldID(oid('blob 2'), 'vector<u8>', META_KEY);
addObject('blob_metadata_field', T(`0x2::dynamic_field::Field<vector<u8>, ${T(Metadata.typeTag({ package: MAIN.original }))}>`),
  Field(bcs.vector(bcs.u8()), Metadata), {
    id: metaFieldId, name: Array.from(utf8('metadata')),
    value: { metadata: { contents: [{ key: 'content-type', value: 'text/plain' }, { key: 'walrusfs-path', value: '/docs/readme.txt' }] } },
  }, { extra: { parent: oid('blob 2') } });

// =====================================================================
// dynamic fields
// =====================================================================
log('dynamic fields');
const dynamic_fields = [];
const CHAIN_MD_V3 = {
  system_inner_v3_mainnet: '0x0b2d4076d3a0b82a632144e835cd972527b185bda9d55011a9cc38fe557a475d',
  staking_inner_v3_mainnet: '0xa1d6719d0447c536a41688d5762449782bed731ac708659d98f9bff668b555b3',
  system_inner_v3_testnet: '0x7fb94d17d38b895b1aaa25319343970b04b3cebfba7940ceddff8dfcedade095',
  staking_inner_v3_testnet: '0x5343c053fbd861264dcd24ce3eabf652c671e3afa7d25f90b0986a7462830171',
};
const mismatches = [];
for (const [net, N] of [['mainnet', MAIN], ['testnet', TEST]]) {
  for (const [what, parent] of [['system_inner', N.system], ['staking_inner', N.staking]]) {
    for (const v of [3, 4]) {
      const key = bcs.u64().serialize(v).toBytes();
      const name = `${what}_v${v}_${net}`;
      const id = deriveDynamicFieldID(parent, 'u64', key);
      if (CHAIN_MD_V3[name] && CHAIN_MD_V3[name] !== id) mismatches.push(`${name}: CHAIN.md ${CHAIN_MD_V3[name]}, sui-ts ${id}`);
      dynamic_fields.push({ name, parent, key_type: 'u64', key_bcs_base64: b64(key), id });
    }
  }
}
dynamic_fields.push({ name: 'blob_metadata', parent: oid('blob 2'), key_type: 'vector<u8>', key_bcs_base64: b64(META_KEY), id: metaFieldId });
check(dynamic_fields.find((d) => d.name === 'system_inner_v3_mainnet').id === sysFieldId, 'system field id consistent');
note(mismatches.length ? 'MISMATCH with CHAIN.md §2 dynamic-field table: ' + mismatches.join('; ')
  : 'All four version-3 dynamic-field IDs in CHAIN.md §2 (System/Staking inner, Mainnet/Testnet) match sui-ts deriveDynamicFieldID(parent, "u64", bcs.u64(3)). The recipe in sui-ts is blake2b-256(0xf0 || parent || u64 LE key length || key bytes || bcs TypeTag of the key type).');

// =====================================================================
// events (walrus-ts 1.2.13 has no events module: composed from sui-ts bcs, field order from
// walrus contracts/walrus/sources/system/events.move)
// =====================================================================
log('events');
const Ev = {
  BlobRegistered: bcs.struct('BlobRegistered', { epoch: bcs.u32(), blob_id: bcs.u256(), size: bcs.u64(), encoding_type: bcs.u8(), end_epoch: bcs.u32(), deletable: bcs.bool(), object_id: bcs.Address }),
  BlobCertified: bcs.struct('BlobCertified', { epoch: bcs.u32(), blob_id: bcs.u256(), end_epoch: bcs.u32(), deletable: bcs.bool(), object_id: bcs.Address, is_extension: bcs.bool() }),
  BlobDeleted: bcs.struct('BlobDeleted', { epoch: bcs.u32(), blob_id: bcs.u256(), end_epoch: bcs.u32(), object_id: bcs.Address, was_certified: bcs.bool() }),
  PricesUpdated: bcs.struct('PricesUpdated', { epoch: bcs.u32(), storage_price: bcs.u64(), write_price: bcs.u64() }),
  EpochChangeDone: bcs.struct('EpochChangeDone', { epoch: bcs.u32() }),
};
const events = [];
function addEvent(name, type, value, len) {
  const s = Ev[type];
  const bytes = s.serialize(value).toBytes();
  const parsed = s.parse(bytes);
  check(eq(s.serialize(parsed).toBytes(), bytes), name + ': round trip');
  check(bytes.length === len, `${name}: length ${bytes.length} != ${len}`);
  events.push({ name, type: T(`${MAIN.original}::events::${type}`), fields: jsonSafe(parsed), bcs_base64: b64(bytes) });
}
addEvent('blob_registered', 'BlobRegistered', { epoch: 7, blob_id: bid1.n, size: '1024', encoding_type: 1, end_epoch: 12, deletable: true, object_id: oid('blob 1') }, 4 + 32 + 8 + 1 + 4 + 1 + 32);
addEvent('blob_certified', 'BlobCertified', { epoch: 5, blob_id: bid2.n, end_epoch: 58, deletable: false, object_id: oid('blob 2'), is_extension: false }, 4 + 32 + 4 + 1 + 32 + 1);
addEvent('blob_certified_extension', 'BlobCertified', { epoch: 5, blob_id: bid2.n, end_epoch: 63, deletable: false, object_id: oid('blob 2'), is_extension: true }, 74);
addEvent('blob_deleted', 'BlobDeleted', { epoch: 8, blob_id: bid1.n, end_epoch: 12, object_id: oid('blob 1'), was_certified: true }, 4 + 32 + 4 + 32 + 1);
addEvent('prices_updated', 'PricesUpdated', { epoch: 7, storage_price: '11000', write_price: '20000' }, 20);
addEvent('epoch_change_done', 'EpochChangeDone', { epoch: 8 }, 4);
note('walrus-ts 1.2.13 ships no events structs (dist/contracts/walrus has no events.mjs), so the event layouts are sui-ts bcs.struct definitions with the field order of walrus contracts/walrus/sources/system/events.move (PricesUpdated from the events.move version that has it); they match CHAIN.md §5. 0x2::coin::Coin<T> likewise is bcs.struct {id: Address, balance: walrus-ts generated 0x2::balance::Balance}. Everything else under "objects" uses walrus-ts generated structs.');

// =====================================================================
// type tags
// =====================================================================
log('type tags');
const type_tags = ['u64', 'u32', 'address', 'vector<u8>', MAIN.wal, `0x2::coin::Coin<${MAIN.wal}>`, `${MAIN.original}::blob::Blob`,
  `0x2::dynamic_field::Field<u64, ${MAIN.original}::system_state_inner::SystemStateInnerV1>`].map((type) => {
  const bytes = bcs.TypeTag.serialize(type).toBytes();
  const normalized = bcs.TypeTag.parse(bytes);
  check(eq(bcs.TypeTag.serialize(normalized).toBytes(), bytes), type + ': TypeTag round trip');
  return { type, bcs_base64: b64(bytes), normalized };
});
{
  const f = `0x2::dynamic_field::Field<u64, ${MAIN.original}::system_state_inner::SystemStateInnerV1>`;
  check(normalizeStructTag(f) !== T(f) && normalizeTypeTag(f) !== T(f), 'the three sui-ts type-string forms differ');
  note(`Type strings: objects[].type, events[].type and type_tags[].normalized are the sui-ts bcs.TypeTag round trip (parseFromStr(s, true) + TypeTagSerializer.tagToString): every address 0x + 64 hex and ", " between type parameters (not checked against what a node returns in gRPC Object.object_type). sui-ts has two other, different forms: normalizeStructTag pads addresses but joins type parameters with "," (no space), e.g. ${normalizeStructTag(f).replace(/0x0{63}2/, '0x0…02')}; normalizeTypeTag keeps ", " but does not pad addresses (${normalizeTypeTag(f).replace(/0x[0-9a-f]{64}/, '0xfdc8…')}). Compare types structurally (parse to a TypeTag) rather than as strings.`);
}
note('Move field values in objects[].fields are the walrus-ts parse output made JSON-safe: u64/u128/u256 as decimal strings, addresses/IDs as 0x hex, vector<u8> as JSON arrays of numbers, Option as null or the value, enums as {Variant: value, $kind: "Variant"} (unit variants have value true), MoveTuple wrappers (Committee, PendingValues) as one-element arrays.');

// =====================================================================
// output
// =====================================================================
function summarize(d) {
  const arg = (a) => a.$kind === 'Input' ? `Input${a.Input}` : a.$kind === 'Result' ? `Result${a.Result}` : a.$kind === 'NestedResult' ? `NestedResult(${a.NestedResult})` : 'GasCoin';
  const ins = pt(d).inputs.map((i, k) => `Input${k}=${i.$kind === 'Object' ? i.Object.$kind : i.$kind}`).join(', ');
  const cmds = pt(d).commands.map((c) => {
    if (c.MoveCall) return `MoveCall ${c.MoveCall.package.replace(/^0x0+(?=[0-9a-f])/, '0x').slice(0, 10)}::${c.MoveCall.module}::${c.MoveCall.function}(${c.MoveCall.arguments.map(arg).join(', ')})`;
    if (c.SplitCoins) return `SplitCoins(${arg(c.SplitCoins.coin)}, [${c.SplitCoins.amounts.map(arg)}])`;
    if (c.MergeCoins) return `MergeCoins(${arg(c.MergeCoins.destination)}, [${c.MergeCoins.sources.map(arg)}])`;
    if (c.TransferObjects) return `TransferObjects([${c.TransferObjects.objects.map(arg)}], ${arg(c.TransferObjects.address)})`;
    return c.$kind;
  }).join('; ');
  return `inputs [${ins}]; commands [${cmds}]`;
}
note(`ValidDuring.chain must be the full 32-byte genesis checkpoint digest, which CHAIN.md §1 does not list (it gives only the 4-byte chain ids ${MAIN.chainIdHex}/${TEST.chainIdHex}). The base58 digests used here (Mainnet ${MAIN.chain}, Testnet ${TEST.chain}) are constants in this script, not SDK output; the script only checks that they decode to 32 bytes beginning with those chain ids. A client should take the value from gRPC GetServiceInfo.chain_id, which is what sui-ts getChainIdentifier() returns.`);
note('renew_coins and delete_blobs were also built through walrus-ts\'s generated Move-call wrappers (contracts/walrus/system.mjs extendBlob / deleteBlob) and gave identical bytes to the plain tx.moveCall builds recorded here.');
note('sui-ts 2.33.1 needs Node >= 22 per its engines field; it runs unchanged on Node 20 (used here).');

const out = {
  generator: 'scripts/vectors/gen_chain_fixtures.mjs',
  packages: PACKAGES,
  notes,
  keys, transactions, objects, dynamic_fields, events, type_tags,
};
// pretty-print, but keep arrays of scalars on one line
function pretty(v, ind = '') {
  const n = ind + '  ';
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every((x) => x === null || typeof x !== 'object') && !v.some((x) => typeof x === 'string' && x.length > 100)) return '[' + v.map((x) => JSON.stringify(x)).join(',') + ']';
    return '[\n' + v.map((x) => n + pretty(x, n)).join(',\n') + '\n' + ind + ']';
  }
  if (v && typeof v === 'object') {
    const e = Object.entries(v);
    if (e.length === 0) return '{}';
    return '{\n' + e.map(([k, x]) => n + JSON.stringify(k) + ': ' + pretty(x, n)).join(',\n') + '\n' + ind + '}';
  }
  return JSON.stringify(v);
}
const text = pretty(out) + '\n';
check(JSON.stringify(JSON.parse(text)) === JSON.stringify(out), 'pretty printer preserves the JSON');
process.stdout.write(text);
log(`done: ${transactions.length} transactions, ${objects.length} objects, ${dynamic_fields.length} dynamic fields, ${events.length} events, ${type_tags.length} type tags`);
