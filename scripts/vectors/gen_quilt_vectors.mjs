// Reference-vector generator for Walrus QuiltV1 (many files packed into one RS2 blob).
// Own code. Every recorded quilt, index and blob ID comes from published npm packages:
//   @mysten/walrus       encodeQuilt()   the TS SDK's QuiltV1 encoder (what writeFiles/writeQuilt use)
//                        QuiltReader     the SDK's patch reader (dist/files/readers/quilt.mjs, not
//                                        exported); used only to read every patch back as a check
//   @mysten/walrus-wasm  BlobEncoder     walrus-core compiled to WASM: quilt blob ID, root, slivers
// Our own code only re-derives the layout to check the oracle's output. The one exception is
// `rust_publisher_expected` (non-BMP identifiers only): our writer lays the same files out in the
// Rust order there, because encodeQuilt can't; see README.md.
// Run: node gen_quilt_vectors.mjs > quilt_vectors.json      (~20 s)
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';
import { encodeQuilt } from '@mysten/walrus';
import { BlobEncoder } from '@mysten/walrus-wasm';

const require = createRequire(import.meta.url);
const pkgVersion = (name) => {
  // walk up from the resolved entry to the package.json (the exports map hides ./package.json)
  let d = dirname(require.resolve(name));
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
// The read-back check uses the SDK's own reader, which the package does not export.
const { QuiltReader } = await import(new URL('./files/readers/quilt.mjs', import.meta.resolve('@mysten/walrus')));

// ---------- helpers ----------
const hex = (u8) => Buffer.from(u8).toString('hex');
const sha256 = (u8) => createHash('sha256').update(u8).digest('hex');
const b64url = (u8) => Buffer.from(u8).toString('base64url'); // unpadded URL-safe base64
const utf8 = (s) => new TextEncoder().encode(s);
function params(n) {
  const f = Math.floor((n - 1) / 3);
  return { f, kp: n - 2 * f, ks: n - f }; // kp = rows of the quilt matrix, ks = columns
}
function uleb(n) {
  const out = [];
  do { let b = n & 0x7f; n = Math.floor(n / 128); if (n) b |= 0x80; out.push(b); } while (n);
  return out;
}
const u16le = (v) => [v & 255, (v >> 8) & 255];
const u32le = (v) => [v & 255, (v >>> 8) & 255, (v >>> 16) & 255, (v >>> 24) & 255];
const bcsString = (s) => { const b = utf8(s); return [...uleb(b.length), ...b]; };
// BCS map<String,String>: entries sorted by the *serialized key bytes* (uleb len ‖ utf8),
// which is what both the Rust `bcs` crate and @mysten/bcs do.
function bcsTags(tags) {
  const ents = Object.entries(tags).map(([k, v]) => [Uint8Array.from(bcsString(k)), bcsString(v)]);
  ents.sort(([a], [b]) => { for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i] - b[i]; return a.length - b.length; });
  return [...uleb(ents.length), ...ents.flatMap(([k, v]) => [...k, ...v])];
}

// ---------- deterministic contents ----------
function lcgBytes(len, seed) { // LCG32 exactly as in README.md (state updated before each byte)
  const out = new Uint8Array(len);
  let x = seed >>> 0;
  for (let i = 0; i < len; i++) { x = (Math.imul(x, 1664525) + 1013904223) >>> 0; out[i] = x >>> 24; }
  return out;
}
function makeContent(c) {
  if ('utf8' in c) return utf8(c.utf8);
  if (c.kind === 'seq') return Uint8Array.from({ length: c.length }, (_, i) => (c.start + i) & 255);
  if (c.kind === 'affine') return Uint8Array.from({ length: c.length }, (_, i) => (c.mul * i + c.add) & 255);
  if (c.kind === 'lcg32') return lcgBytes(c.length, c.seed);
  throw new Error('bad content ' + JSON.stringify(c));
}
const file = (identifier, content, tags = {}) => ({ identifier, tags, content });

// ---------- the cases ----------
const pad = (j, w) => String(j).padStart(w, '0');
const variedSize = (j) => 1 + ((j * j * 37 + j * 1009) % 5000);
function manyFiles(count, w) {
  return Array.from({ length: count }, (_, j) => file('m' + pad(j, w), { utf8: 'patch ' + j }));
}
const CASES = [
  {
    name: 'single_hello',
    description: 'one file "a.txt" = ASCII "hello", no tags',
    files: () => [file('a.txt', { utf8: 'hello' })],
  },
  {
    name: 'three_unsorted',
    description: 'input order b, a, c (NOT sorted); lengths 0, 1, 300; seq(start) means b[i] = (start + i) mod 256',
    files: () => [
      file('b', { kind: 'seq', length: 0, start: 0 }),
      file('a', { kind: 'seq', length: 1, start: 0x61 }),
      file('c', { kind: 'seq', length: 300, start: 0 }),
    ],
  },
  {
    name: 'tags',
    description: 'one file "a.txt" = "hello" with tags {"k":"v","mode":"0644"}',
    files: () => [file('a.txt', { utf8: 'hello' }, { k: 'v', mode: '0644' })],
  },
  {
    name: 'twenty_4k',
    description: '20 files "f00".."f19", 4096 bytes each; file j: b[i] = ((2j+1)*i + j) mod 256',
    files: () => Array.from({ length: 20 }, (_, j) => file('f' + pad(j, 2), { kind: 'affine', length: 4096, mul: 2 * j + 1, add: j })),
  },
  {
    name: 'hundred_varied',
    description: '100 files "v000".."v099"; file j has length 1 + ((37*j*j + 1009*j) mod 5000) and content LCG32(seed = j+1)',
    files: () => Array.from({ length: 100 }, (_, j) => file('v' + pad(j, 3), { kind: 'lcg32', length: variedSize(j), seed: j + 1 })),
  },
  {
    name: 'max_patches',
    description: 'ks-1 files (6 at n=10, 666 at n=1000) named "m0".. / "m000"..; file j = ASCII "patch j"',
    perN: true,
    files: (n) => { const { ks } = params(n); return manyFiles(ks - 1, String(ks - 1).length); },
  },
  {
    name: 'max_patches_plus_one',
    description: 'ks files (7 at n=10, 667 at n=1000) named "m0".."m6" / "m000".."m666"; file j = ASCII "patch j"; one more than fits, so it must fail',
    perN: true,
    files: (n) => { const { ks } = params(n); return manyFiles(ks, String(ks - 1).length); },
  },
  {
    name: 'tag_key_order',
    description: 'one file "x" = "tagged" with tags given in insertion order b, aa, content-type; BCS sorts keys by serialized bytes (length prefix first) so the wire order is b, aa, content-type (NOT aa, b, ...)',
    files: () => [file('x', { utf8: 'tagged' }, { b: '2', aa: '1', 'content-type': 'text/plain' })],
  },
  {
    name: 'long_identifier',
    description: 'identifier of 200 bytes ("dir/" + 196 x "x"): its BCS length prefix is the 2-byte ULEB128 c8 01',
    files: () => [file('dir/' + 'x'.repeat(196), { utf8: 'long' }), file('a', { utf8: 'short' })],
  },
  {
    name: 'single_100k',
    description: 'one file "big.bin", 100000 bytes, b[i] = (5*i + 1) mod 256 (symbol size driven by file size)',
    files: () => [file('big.bin', { kind: 'affine', length: 100000, mul: 5, add: 1 })],
  },
  {
    name: 'unicode_identifiers',
    description: 'identifiers "é.txt", "\\uFF01.txt", "\\u{1F600}.txt" (contents "1","2","3"). The TS SDK sorts by UTF-16 code units (é, 😀, ！); Rust sorts by UTF-8 bytes (é, ！, 😀), so the Rust publisher would produce a different quilt and blob ID. Recorded as the npm package produces it.',
    files: () => [file('\uFF01.txt', { utf8: '2' }), file('\u{1F600}.txt', { utf8: '3' }), file('é.txt', { utf8: '1' })],
  },
  {
    name: 'underscore_identifiers',
    description: 'identifiers "_config.yml", "__init__.py" and "a" (contents "x: 1", "", "a"): a leading underscore is a valid QuiltV1 identifier (the publisher reserves only the multipart field name _metadata)',
    files: () => [file('_config.yml', { utf8: 'x: 1' }), file('__init__.py', { utf8: '' }), file('a', { utf8: 'a' })],
  },
];
const SHARDS = [10, 1000];
const QUILT_HEX_MAX = 64 * 1024; // full quilt hex when shorter than this
const SHORT_HEX_MAX = 64;         // file contents as hex when at most this long
const SELF_CHECK_SLIVERS_N = new Set([10]); // compare columns with the wasm's secondary slivers

// ---------- self-checks (independent re-derivation of the layout, not SDK code) ----------
function readColumns(quilt, S, kp, ks, startCol, offset, length) {
  // byte t of the column stream of column c is at row (t / S) % kp ... (column-major, symbol-wise)
  const out = new Uint8Array(length);
  const colSize = S * kp;
  for (let t = 0; t < length; t++) {
    const g = offset + t;
    const col = startCol + Math.floor(g / colSize);
    const inCol = g % colSize;
    const row = Math.floor(inCol / S);
    out[t] = quilt[row * (S * ks) + col * S + (inCol % S)];
  }
  return out;
}
function parseSliverBcs(buf) {
  let len = 0, shift = 0, p = 0;
  for (;;) { const b = buf[p++]; len += (b & 0x7f) * 2 ** shift; shift += 7; if (!(b & 0x80)) break; }
  const data = buf.subarray(p, p + len); p += len;
  const symbol_size = buf[p] | (buf[p + 1] << 8); p += 2;
  const index = buf[p] | (buf[p + 1] << 8); p += 2;
  return { data, symbol_size, index };
}

// Our own QuiltV1 writer (re-derived from walrus-core construct_quilt), used (a) to check that it
// reproduces encodeQuilt byte for byte, and (b) to lay the files out in Rust's identifier order
// when that differs from the TS SDK's order (non-BMP identifiers; see README).
function patchPrefix(identifier, tags, dataLen) {
  const hasTags = Object.keys(tags).length > 0;
  const idB = bcsString(identifier);
  const ext = [...u16le(idB.length), ...idB];
  if (hasTags) { const t = bcsTags(tags); ext.push(...u16le(t.length), ...t); }
  return [1, ...u32le(ext.length + dataLen), hasTags ? 1 : 0, ...ext];
}
function layoutQuilt(ordered, S, kp, ks) {
  const colSize = S * kp, rowSize = S * ks;
  const quilt = new Uint8Array(rowSize * kp);
  const put = (bytes, startCol, offset) => {
    for (let t = 0; t < bytes.length; t++) {
      const g = offset + t, col = startCol + Math.floor(g / colSize), inCol = g % colSize;
      quilt[Math.floor(inCol / S) * rowSize + col * S + (inCol % S)] = bytes[t];
    }
  };
  const idxLen = uleb(ordered.length).length + ordered.reduce((a, b) => a + 2 + bcsString(b.identifier).length + bcsTags(b.tags).length, 0);
  let cur = Math.ceil((5 + idxLen) / colSize);
  const patches = [];
  for (const b of ordered) {
    const prefix = patchPrefix(b.identifier, b.tags, b.contents.length);
    put(prefix, cur, 0);
    put(b.contents, cur, prefix.length);
    const used = Math.ceil((prefix.length + b.contents.length) / colSize);
    patches.push({ identifier: b.identifier, tags: b.tags, startIndex: cur, endIndex: cur + used });
    cur += used;
  }
  const idxBcs = [...uleb(patches.length), ...patches.flatMap((p) => [...u16le(p.endIndex), ...bcsString(p.identifier), ...bcsTags(p.tags)])];
  put([1, ...u32le(idxBcs.length), ...idxBcs], 0, 0);
  return { quilt, patches, idxBcs };
}
const rustCmp = (a, b) => Buffer.compare(Buffer.from(a.identifier, 'utf8'), Buffer.from(b.identifier, 'utf8'));

async function buildVector(c, n) {
  const { f, kp, ks } = params(n);
  const files = c.files(n);
  const blobs = files.map((x) => ({ identifier: x.identifier, contents: makeContent(x.content), tags: x.tags }));
  const inputs = files.map((x, i) => {
    const b = blobs[i].contents;
    const r = { identifier: x.identifier, tags: x.tags, length: b.length, content: x.content, sha256: sha256(b) };
    if (b.length <= SHORT_HEX_MAX) r.hex = hex(b);
    return r;
  });
  const v = { case: c.name, n_shards: n, f, n_rows: kp, n_columns: ks, n_files: files.length };
  if (files.length <= 100) v.inputs = inputs; else v.inputs_formula = c.description;
  let enc;
  try {
    enc = encodeQuilt({ blobs, numShards: n, encodingType: 'RS2' });
  } catch (e) {
    v.error = String(e.message ?? e);
    v.max_patches = ks - 1;
    return v;
  }
  const { quilt, index } = enc;
  // ---- derived layout values ----
  const L = quilt.length;
  if (L % (kp * ks)) throw new Error('quilt length not a multiple of kp*ks');
  const S = L / (kp * ks);
  const colSize = S * kp, rowSize = S * ks;
  const byIdent = new Map(blobs.map((b) => [b.identifier, b]));
  const mine = layoutQuilt(index.patches.map((p) => byIdent.get(p.identifier)), S, kp, ks);
  if (hex(mine.quilt) !== hex(quilt)) throw new Error(`${c.name}/${n}: own writer != encodeQuilt`);
  const idxBcs = [...uleb(index.patches.length), ...index.patches.flatMap((p) => [...u16le(p.endIndex), ...bcsString(p.identifier), ...bcsTags(p.tags)])];
  const idxBlob = [1, ...u32le(idxBcs.length), ...idxBcs];
  const indexCols = Math.ceil(idxBlob.length / colSize);
  // the index is stored at the top of columns 0.. in column order
  const stored = readColumns(quilt, S, kp, ks, 0, 0, idxBlob.length);
  if (hex(stored) !== hex(idxBlob)) throw new Error(`${c.name}/${n}: index bytes mismatch`);
  // ---- quilt blob ID via the WASM (walrus-core) ----
  const be = new BlobEncoder(n);
  const [blobIdBytes, root, unencLen, encType] = be.compute_metadata(quilt);
  if (Number(unencLen) !== L || encType !== 'RS2') throw new Error('metadata mismatch');
  const blobIdRaw = Uint8Array.from(blobIdBytes);
  let rsS = Math.ceil(L / (kp * ks)); if (rsS % 2) rsS++;
  if (rsS !== S) throw new Error('quilt symbol size != RS2 symbol size of the quilt blob');
  let secondary = null;
  if (SELF_CHECK_SLIVERS_N.has(n)) {
    const prim = Array.from({ length: n }, () => new Uint8Array(uleb(ks * S).length + ks * S + 4));
    const sec = Array.from({ length: n }, () => new Uint8Array(uleb(kp * S).length + kp * S + 4));
    be.encode(quilt, prim, sec);
    secondary = new Map();
    for (const buf of sec) { const s = parseSliverBcs(buf); secondary.set(s.index, s.data); }
  }
  be.free();
  const patches = [];
  const byId = new Map(blobs.map((b) => [b.identifier, b]));
  let prevEnd = indexCols;
  for (const p of index.patches) {
    if (p.startIndex !== prevEnd) throw new Error('patch start != previous end');
    prevEnd = p.endIndex;
    const b = byId.get(p.identifier);
    const hasTags = Object.keys(p.tags).length > 0;
    const idB = bcsString(p.identifier);
    const ext = [...u16le(idB.length), ...idB, ...(hasTags ? (() => { const t = bcsTags(p.tags); return [...u16le(t.length), ...t]; })() : [])];
    const prefix = [1, ...u32le(ext.length + b.contents.length), hasTags ? 1 : 0, ...ext];
    const got = readColumns(quilt, S, kp, ks, p.startIndex, 0, prefix.length + b.contents.length);
    if (hex(got.subarray(0, prefix.length)) !== hex(prefix)) throw new Error(`${c.name}/${n}: patch prefix mismatch for ${p.identifier}`);
    if (sha256(got.subarray(prefix.length)) !== sha256(b.contents)) throw new Error(`${c.name}/${n}: patch data mismatch for ${p.identifier}`);
    if (Math.ceil((prefix.length + b.contents.length) / colSize) !== p.endIndex - p.startIndex) throw new Error('column count mismatch');
    const cols = readColumns(quilt, S, kp, ks, p.startIndex, 0, (p.endIndex - p.startIndex) * colSize);
    if (secondary) {
      for (let col = p.startIndex; col < p.endIndex; col++) {
        const want = cols.subarray((col - p.startIndex) * colSize, (col - p.startIndex + 1) * colSize);
        if (hex(secondary.get(col)) !== hex(want)) throw new Error(`column ${col} != secondary sliver ${col}`);
      }
    }
    const pid = Uint8Array.from([...blobIdRaw, 1, ...u16le(p.startIndex), ...u16le(p.endIndex)]);
    patches.push({
      identifier: p.identifier,
      tags: p.tags,
      start_index: p.startIndex,
      end_index: p.endIndex,
      patch_id: b64url(pid),
      patch_id_hex: hex(pid),
      data_length: b.contents.length,
      header_length_field: ext.length + b.contents.length,
      prefix_hex: hex(prefix),
      columns_sha256: sha256(cols),
    });
  }
  // ---- read every patch back with the SDK's own QuiltReader (full-blob path) ----
  const blobId = b64url(blobIdRaw);
  const mock = {
    blobId, hasStartedLoadingFullBlob: true,
    getBytes: async () => quilt, getRowSize: async () => rowSize, getSymbolSize: async () => S,
    getColumnSize: async () => colSize, getSecondarySliver: async () => { throw new Error('n/a'); },
  };
  const reader = new QuiltReader({ blob: mock });
  const listed = await reader.readIndex();
  if (listed.length !== patches.length) throw new Error('readIndex length');
  for (let i = 0; i < listed.length; i++) {
    const l = listed[i], p = patches[i];
    if (l.identifier !== p.identifier || l.patchId !== p.patch_id) throw new Error('readIndex mismatch');
    const got = await l.reader.getBytes();
    if (sha256(got) !== sha256(byId.get(p.identifier).contents)) throw new Error('read-back content mismatch');
    const norm = (t) => JSON.stringify(Object.entries(t ?? {}).sort());
    if (norm(await l.reader.getTags()) !== norm(p.tags)) throw new Error('read-back tags mismatch');
  }
  const encodedLength = n * (kp + ks) * S + n * (64 * n + 32);
  const rustOrder = [...blobs].sort(rustCmp);
  if (rustOrder.some((b, i) => b.identifier !== index.patches[i].identifier)) {
    const r = layoutQuilt(rustOrder, S, kp, ks);
    const be2 = new BlobEncoder(n);
    const [rid, rroot] = be2.compute_metadata(r.quilt);
    be2.free();
    const ridRaw = Uint8Array.from(rid);
    v.rust_order_differs = true;
    v.rust_publisher_expected = {
      note: 'NOT produced by encodeQuilt: the same files laid out in walrus-core (Rust) order, i.e. identifiers sorted by UTF-8 bytes, by this generator\'s own writer; blob ID from @mysten/walrus-wasm. Symbol size and column counts are unchanged.',
      identifier_order: r.patches.map((p) => p.identifier),
      quilt_sha256: sha256(r.quilt),
      ...(L < QUILT_HEX_MAX ? { quilt_hex: hex(r.quilt) } : {}),
      index_bcs_hex: hex(r.idxBcs),
      blob_id: b64url(ridRaw),
      blob_id_hex: hex(ridRaw),
      metadata_root_hash_hex: hex(Uint8Array.from(rroot.Digest)),
      patches: r.patches.map((p) => {
        const pid = Uint8Array.from([...ridRaw, 1, ...u16le(p.startIndex), ...u16le(p.endIndex)]);
        return { identifier: p.identifier, start_index: p.startIndex, end_index: p.endIndex, patch_id: b64url(pid) };
      }),
    };
  }
  Object.assign(v, {
    symbol_size: S,
    column_size: colSize,
    row_size: rowSize,
    index_columns: indexCols,
    columns_used: prevEnd,
    quilt_length: L,
    quilt_sha256: sha256(quilt),
    ...(L < QUILT_HEX_MAX ? { quilt_hex: hex(quilt) } : {}),
    index_bcs_hex: hex(idxBcs),
    index_blob_hex: hex(idxBlob),
    blob_id: blobId,
    blob_id_hex: hex(blobIdRaw),
    metadata_root_hash_hex: hex(Uint8Array.from(root.Digest)),
    encoded_length: encodedLength,
    patches,
  });
  return v;
}

const out = {
  description: 'Walrus QuiltV1 reference vectors; see README.md ("Quilt vectors")',
  oracle: {
    quilt_bytes: `@mysten/walrus@${pkgVersion('@mysten/walrus')} encodeQuilt({blobs, numShards, encodingType: "RS2"})`,
    blob_id: `@mysten/walrus-wasm@${pkgVersion('@mysten/walrus-wasm')} BlobEncoder(n).compute_metadata(quilt)`,
    read_back_check: `@mysten/walrus@${pkgVersion('@mysten/walrus')} QuiltReader.readIndex() + getBytes()/getTags() on every patch`,
  },
  vectors: [],
};
for (const c of CASES) {
  for (const n of SHARDS) {
    const t0 = Date.now();
    const v = await buildVector(c, n);
    out.vectors.push(v);
    process.stderr.write(`${c.name} n=${n}: ${v.error ? 'ERROR ' + v.error : `S=${v.symbol_size} L=${v.quilt_length} ${v.blob_id}`} (${Date.now() - t0} ms)\n`);
  }
}
process.stdout.write(JSON.stringify(out, null, 1) + '\n');
