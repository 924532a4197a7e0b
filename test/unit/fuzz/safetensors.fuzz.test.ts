// Fuzzing the checkpoint reader for a bounded time (RANKWISE_FUZZ_SECONDS, default 15; seed from
// RANKWISE_FUZZ_SEED). Inputs are valid safetensors files and shard indexes, then mutated at the
// header-object, header-text and byte level. A reference reader written here (its own JSON scanner
// for duplicate keys, its own checks and decoders) says what each input is; the engine must agree:
// CheckpointError exactly when the reference rejects, otherwise the same tensors with the same
// values. Any other exception, a hang or a large allocation is a failure, reported with the seed,
// the input number and the input as hex.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { SafetensorsFile } from '../../../sidecar/checkpoint/safetensors';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { CheckpointError } from '../../../sidecar/checkpoint/errors';
import { prng } from '../../fixtures/checkpoints';
import { tempDir } from '../checkpoint/raw';

const SECONDS = Number(process.env.RANKWISE_FUZZ_SECONDS ?? 15);
const SEED = Number(process.env.RANKWISE_FUZZ_SEED ?? 20261123);
/** Each input is tiny; an allocation beyond this means a size was trusted before it was checked. */
const MAX_ARRAY_BUFFER_GROWTH = 64 * 1024 ** 2;
const HANG_MS = 5000;

type Rand = () => number;
const int = (r: Rand, n: number) => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)];

// ---------- reference reader ----------

const SIZES: Record<string, number> = { F32: 4, F16: 2, BF16: 2 };

function refDecode(dtype: string, b: Uint8Array): number[] {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out: number[] = [];
  for (let i = 0; i < b.byteLength; i += SIZES[dtype]) {
    if (dtype === 'F32') out.push(v.getFloat32(i, true));
    else if (dtype === 'BF16') out.push(new Float32Array(new Uint32Array([v.getUint16(i, true) * 65536]).buffer)[0]);
    else {
      const h = v.getUint16(i, true), e = (h >> 10) & 31, m = h & 1023, s = h >= 0x8000 ? -1 : 1;
      out.push(e === 31 ? (m ? NaN : s * Infinity) : e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024));
    }
  }
  return out;
}

/** Recursive-descent walk over text JSON.parse already accepted; true if some object repeats a key. */
function hasDuplicateKey(text: string): boolean {
  let i = 0;
  const ws = () => { while (' \t\n\r'.includes(text[i]) && i < text.length) i++; };
  const str = (): string => {
    const start = i++;
    while (text[i] !== '"') i += text[i] === '\\' ? 2 : 1;
    i++;
    return JSON.parse(text.slice(start, i)) as string;
  };
  const value = (): boolean => {
    ws();
    if (text[i] === '{') {
      i++;
      const keys = new Set<string>();
      ws();
      if (text[i] === '}') { i++; return false; }
      for (;;) {
        ws();
        const k = str();
        if (keys.has(k)) return true;
        keys.add(k);
        ws(); i++; // ':'
        if (value()) return true;
        ws();
        if (text[i++] === '}') return false; // else ','
      }
    }
    if (text[i] === '[') {
      i++;
      ws();
      if (text[i] === ']') { i++; return false; }
      for (;;) {
        if (value()) return true;
        ws();
        if (text[i++] === ']') return false;
      }
    }
    if (text[i] === '"') { str(); return false; }
    while (i < text.length && !',]} \t\n\r'.includes(text[i])) i++;
    return false;
  };
  return value();
}

type RefResult = { ok: false; why: string } | { ok: true; tensors: Map<string, number[]> };

function refRead(file: Uint8Array): RefResult {
  const bad = (why: string): RefResult => ({ ok: false, why });
  if (file.byteLength < 8) return bad('short');
  const len = new DataView(file.buffer, file.byteOffset, 8).getBigUint64(0, true);
  if (len === 0n || len > 100n * 1024n * 1024n || len > BigInt(file.byteLength - 8)) return bad('length');
  const hb = file.subarray(8, 8 + Number(len));
  const text = Buffer.from(hb).toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(hb)) {
    // Not a lossless round trip: invalid UTF-8, unless only a leading BOM was involved.
    if (!(hb[0] === 0xef && hb[1] === 0xbb && hb[2] === 0xbf && Buffer.from(text, 'utf8').equals(Buffer.from(hb)))) return bad('utf8');
  }
  let json: unknown;
  try { json = JSON.parse(text.replace(/^\uFEFF/, '')); } catch { return bad('json'); }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return bad('not object');
  if (hasDuplicateKey(text.replace(/^\uFEFF/, ''))) return bad('duplicate');
  const dataStart = 8 + Number(len);
  const ranges: [number, number][] = [];
  const tensors = new Map<string, number[]>();
  for (const [k, v] of Object.entries(json)) {
    if (k === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((s) => typeof s !== 'string')) return bad('metadata');
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) return bad('entry');
    const { dtype, shape, data_offsets: off } = v as Record<string, unknown>;
    if (typeof dtype !== 'string' || !(dtype in SIZES) || !Object.hasOwn(SIZES, dtype)) return bad('dtype');
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) return bad('shape');
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) return bad('offsets');
    let n = 1;
    for (const d of shape as number[]) n *= d;
    if (!Number.isSafeInteger(n * SIZES[dtype]) || off[1] - off[0] !== n * SIZES[dtype]) return bad('size');
    if (dataStart + off[1] > file.byteLength) return bad('eof');
    for (const [b, e] of ranges) if (off[0] < off[1] && b < e && off[0] < e && b < off[1]) return bad('overlap');
    ranges.push([off[0], off[1]]);
    tensors.set(k, refDecode(dtype, file.subarray(dataStart + off[0], dataStart + off[1])));
  }
  return { ok: true, tensors };
}

// ---------- generators ----------

const NAMES = ['a', 'b.weight', 'model.layers.0.mlp.up_proj.weight', 'é', 'a"b', 'x\\y', '\u2028', '0', 'constructor', 'toString'];
const DTYPE_CHOICES: unknown[] = ['F32', 'F16', 'BF16', 'F64', 'I8', 'U8', 'BOOL', 'f32', '', 5, null, 'hasOwnProperty'];
const NUMBERS: unknown[] = [0, 1, 2, 3, 4, 7, 8, -1, 0.5, 2 ** 31, 2 ** 32, 2 ** 53, 2 ** 53 - 1, 1e300, -0, '4', null, true, [], {}];

interface Model { header: Record<string, unknown>; data: Uint8Array }

function validModel(r: Rand): Model {
  const n = int(r, 5);
  const entries: [string, unknown][] = [];
  let off = 0;
  const names = [...NAMES].sort(() => r() - 0.5).slice(0, n);
  for (const name of names) {
    const dtype = pick(r, ['F32', 'F16', 'BF16']);
    const shape = Array.from({ length: int(r, 4) }, () => int(r, 5));
    const bytes = shape.reduce((a, b) => a * b, 1) * SIZES[dtype];
    off += int(r, 3) * 2; // gaps are allowed
    entries.push([name, { dtype, shape, data_offsets: [off, off + bytes] }]);
    off += bytes;
  }
  entries.sort(() => r() - 0.5); // header order need not be data order
  if (r() < 0.7) entries.splice(int(r, entries.length + 1), 0, ['__metadata__', { format: 'pt' }]);
  const data = new Uint8Array(off + int(r, 4));
  for (let i = 0; i < data.length; i++) data[i] = int(r, 256);
  return { header: Object.fromEntries(entries), data };
}

function mutateHeaderObject(r: Rand, h: Record<string, unknown>): unknown {
  const keys = Object.keys(h).filter((k) => k !== '__metadata__');
  const k = keys.length ? pick(r, keys) : 'a';
  const e = (typeof h[k] === 'object' && h[k] !== null ? { ...(h[k] as object) } : {}) as Record<string, unknown>;
  switch (int(r, 10)) {
    case 0: e.dtype = pick(r, DTYPE_CHOICES); break;
    case 1: e.shape = Array.isArray(e.shape) && e.shape.length && r() < 0.5 ? (e.shape as unknown[]).map((d) => (r() < 0.3 ? pick(r, NUMBERS) : d)) : pick(r, [[], [pick(r, NUMBERS)], 'x', null, [2 ** 20, 2 ** 20, 2 ** 20]]); break;
    case 2: {
      const o = Array.isArray(e.data_offsets) ? [...(e.data_offsets as unknown[])] : [0, 0];
      const which = int(r, 2);
      o[which] = r() < 0.5 ? (o[which] as number) + int(r, 9) - 4 : pick(r, NUMBERS);
      e.data_offsets = r() < 0.1 ? o.slice(0, 1) : r() < 0.1 ? [o[1], o[0]] : o;
      if (r() < 0.4 && typeof o[0] === 'number' && typeof o[1] === 'number') { // move the whole range: size still right
        const delta = int(r, 9) - 4;
        e.data_offsets = [o[0] + delta, o[1] + delta];
      }
      break;
    }
    case 3: delete e[pick(r, ['dtype', 'shape', 'data_offsets'])]; break;
    case 4: h[k] = pick(r, [5, 'x', null, [1], true]); return h;
    case 5: { // another tensor over this one's bytes
      const o = (e.data_offsets as number[] | undefined) ?? [0, 4];
      h[`${k}#2`] = { dtype: 'F16', shape: [2], data_offsets: [o[0] + int(r, 3), o[0] + int(r, 3) + 4] };
      return h;
    }
    case 6: h.__metadata__ = pick(r, [{ format: 'pt', n: 1 }, 'pt', null, [], { a: {} }, { a: 'b', c: '' }]); return h;
    case 7: return pick(r, [[], 0, 'x', null, [h]]);
    case 8: e.dtype = pick(r, ['F32', 'F16', 'BF16']); break; // valid only if the sizes still agree
    default: e.shape = [2 ** 40]; e.data_offsets = [0, 2 ** 42]; break;
  }
  h[k] = e;
  return h;
}

function serialise(r: Rand, header: unknown): Uint8Array {
  let text = JSON.stringify(header);
  const m = r();
  if (m < 0.15 && text.length > 2 && text.startsWith('{')) { // a repeated top-level key
    const entries = Object.entries(header as object);
    if (entries.length) {
      const [k, v] = pick(r, entries);
      text = `${text.slice(0, -1)},${JSON.stringify(k)}:${JSON.stringify(v)}}`;
    }
  } else if (m < 0.25) {
    text = text.replace(/"dtype":("[^"]*")/, (_, d) => `"dtype":${d},"dtype":"${pick(r, ['F32', 'F16', 'BF16'])}"`);
  } else if (m < 0.35) {
    text = text.replace(/"\s*:/, `"${' '.repeat(int(r, 3))}:`) + ' '.repeat(int(r, 9));
  }
  let bytes = Buffer.from(text, 'utf8');
  if (r() < 0.15) { // bytes that are not UTF-8: a lone continuation, a truncated sequence, an encoded surrogate, a BOM
    const at = int(r, bytes.length + 1);
    const junk = Buffer.from(pick(r, [[0xff], [0x80], [0xc3], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xc0, 0xaf], [0xef, 0xbb, 0xbf]]));
    bytes = Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]);
  }
  return bytes;
}

function assemble(header: Uint8Array, data: Uint8Array, lengthField = BigInt(header.byteLength)): Uint8Array {
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField & (2n ** 64n - 1n));
  return Buffer.concat([len, header, data]);
}

function makeFile(r: Rand): Uint8Array {
  const kind = int(r, 10);
  if (kind === 0) return Uint8Array.from({ length: int(r, 40) }, () => int(r, 256)); // noise
  const model = validModel(r);
  const header = kind <= 4 ? mutateHeaderObject(r, model.header) : model.header;
  let file = assemble(serialise(r, header), model.data);
  if (kind === 6 || kind === 7) { // byte-level damage
    file = Uint8Array.from(file);
    for (let j = 0, n = 1 + int(r, 4); j < n; j++) file[int(r, file.length)] = r() < 0.5 ? int(r, 256) : file[int(r, file.length)];
  } else if (kind === 8) {
    // Truncation anywhere, or by a few bytes at the end, where it cuts only the last tensor.
    file = file.subarray(0, r() < 0.5 ? int(r, file.length + 1) : Math.max(0, file.length - 1 - int(r, 4)));
  } else if (kind === 9) { // lying length field
    const real = BigInt(file.length - 8);
    const lie = pick(r, [0n, 1n, 7n, real - 1n, real + 1n, 100n * 1024n * 1024n + 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(int(r, file.length))]);
    file = assemble(file.subarray(8, 8 + Number(real)), new Uint8Array(0), lie);
  }
  return file;
}

// ---------- engine under test ----------

type Outcome = { kind: 'rejected' } | { kind: 'read'; tensors: Map<string, Float32Array> };

async function engineReadFile(path: string): Promise<Outcome> {
  let sf: SafetensorsFile;
  try {
    sf = await SafetensorsFile.open(path);
  } catch (e) {
    if (e instanceof CheckpointError) return { kind: 'rejected' };
    throw e;
  }
  try {
    const tensors = new Map<string, Float32Array>();
    for (const name of sf.entries.keys()) tensors.set(name, await sf.read(name));
    return { kind: 'read', tensors };
  } finally {
    await sf.close();
  }
}

function sameValues(name: string, got: Float32Array | undefined, want: number[]): string | undefined {
  if (!got) return `tensor "${name}" missing`;
  if (got.length !== want.length) return `tensor "${name}": ${got.length} values, expected ${want.length}`;
  for (let i = 0; i < want.length; i++) {
    if (!(Object.is(got[i], want[i]) || (Number.isNaN(got[i]) && Number.isNaN(want[i])))) return `tensor "${name}"[${i}] = ${got[i]}, expected ${want[i]}`;
  }
  return undefined;
}

function compare(outcome: Outcome, ref: RefResult): string | undefined {
  if (outcome.kind === 'rejected') return ref.ok ? 'engine rejected a valid input' : undefined;
  if (!ref.ok) return `engine accepted an input the reference rejects (${ref.why})`;
  if (outcome.tensors.size !== ref.tensors.size) return `engine found ${outcome.tensors.size} tensors, reference ${ref.tensors.size}`;
  for (const [name, want] of ref.tensors) {
    const diff = sameValues(name, outcome.tensors.get(name), want);
    if (diff) return diff;
  }
  return undefined;
}

// ---------- shard indexes ----------

interface Folder { files: Record<string, Uint8Array>; expect: RefResult }

function makeFolder(r: Rand): Folder {
  // Two or three valid shards with distinct tensor names, an index, then one mutation.
  const shards: Record<string, Uint8Array> = {};
  const owner = new Map<string, string>();
  const nShards = 2 + int(r, 2);
  for (let s = 0; s < nShards; s++) {
    const model = validModel(r);
    const header: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(model.header)) header[k === '__metadata__' ? k : `s${s}.${k}`] = v;
    const file = `model-0000${s + 1}-of-0000${nShards}.safetensors`;
    shards[file] = assemble(Buffer.from(JSON.stringify(header)), model.data);
    for (const k of Object.keys(header)) if (k !== '__metadata__') owner.set(k, file);
  }
  const map: Record<string, unknown> = Object.fromEntries(owner);
  const names = [...owner.keys()];
  const files = Object.keys(shards);
  let indexText: string | undefined;
  let fail: string | undefined;
  const allMapped = new Set(Object.values(map));
  switch (int(r, 9)) {
    case 0: if (names.length) { delete map[pick(r, names)]; } break;
    case 1: map.ghost = pick(r, files); break;
    case 2: if (names.length) map[pick(r, names)] = pick(r, files); break;
    case 3: map[names.length ? pick(r, names) : 'x'] = pick(r, ['../model.safetensors', 'sub/x.safetensors', 'x.bin', 5, null, 'absent.safetensors']); break;
    case 4: indexText = pick(r, ['{"weight_map": [1]}', '{}', '[]', 'null', '{"weight_map": ', '{"weight_map": null}', '\u00ff']); break;
    case 5: { const f = pick(r, files); delete shards[f]; fail = allMapped.has(f) ? 'missing shard' : undefined; break; }
    default: break; // unchanged, valid
  }
  // Reference verdict for the folder, from the map and the shards' own (valid) headers.
  const index = indexText ?? JSON.stringify({ metadata: {}, weight_map: map });
  const expect = ((): RefResult => {
    if (fail) return { ok: false, why: fail };
    let parsed: unknown;
    try { parsed = JSON.parse(index); } catch { return { ok: false, why: 'index json' }; }
    const wm = (parsed as { weight_map?: unknown } | null)?.weight_map;
    if (typeof wm !== 'object' || wm === null || Array.isArray(wm)) return { ok: false, why: 'weight_map' };
    const listed = new Set<string>();
    for (const f of Object.values(wm)) {
      if (typeof f !== 'string' || f.includes('/') || f.includes('\\') || !f.endsWith('.safetensors') || !(f in shards)) return { ok: false, why: `bad shard ${String(f)}` };
      listed.add(f);
    }
    const tensors = new Map<string, number[]>();
    for (const f of listed) {
      const got = refRead(shards[f]);
      if (!got.ok) return got;
      for (const [t, v] of got.tensors) {
        if ((wm as Record<string, unknown>)[t] !== f) return { ok: false, why: `tensor ${t} not mapped to ${f}` };
        tensors.set(t, v);
      }
    }
    for (const t of Object.keys(wm)) if (!tensors.has(t)) return { ok: false, why: `mapped tensor ${t} absent` };
    return { ok: true, tensors };
  })();
  return { files: { ...shards, 'model.safetensors.index.json': Buffer.from(index), 'config.json': Buffer.from('{"model_type":"llama"}') }, expect };
}

async function engineReadFolder(dir: string): Promise<Outcome> {
  try {
    const ck = await openCheckpoint(dir);
    try {
      const tensors = new Map<string, Float32Array>();
      for (const name of ck.tensors.keys()) tensors.set(name, await ck.read(name));
      return { kind: 'read', tensors };
    } finally {
      await ck.close();
    }
  } catch (e) {
    if (e instanceof CheckpointError) return { kind: 'rejected' };
    throw e;
  }
}

// ---------- driver ----------

function withTimeout<T>(p: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no answer within ${HANG_MS} ms (hang)`)), HANG_MS); });
  return Promise.race([p, hang]).finally(() => clearTimeout(timer));
}

const hex = (b: Uint8Array) => Buffer.from(b.subarray(0, 4096)).toString('hex') + (b.length > 4096 ? `… (${b.length} bytes)` : '');

test(`safetensors and shard-index fuzz (${SECONDS} s, seed ${SEED})`, async (t) => {
  const root = tempDir(t, 'fuzz');
  const deadline = Date.now() + SECONDS * 1000;
  let tried = 0, rejected = 0, read = 0;
  const baseline = process.memoryUsage().arrayBuffers;
  for (let i = 0; Date.now() < deadline; i++) {
    const r = prng(SEED * 1_000_003 + i);
    const folderCase = r() < 0.25;
    let problem: string | undefined;
    let dump = '';
    try {
      let outcome: Outcome;
      let ref: RefResult;
      if (folderCase) {
        const folder = makeFolder(r);
        const dir = join(root, 'ck');
        rmSync(dir, { recursive: true, force: true });
        mkdirSync(dir);
        for (const [name, bytes] of Object.entries(folder.files)) writeFileSync(join(dir, name), bytes);
        dump = readdirSync(dir).map((n) => `${n}: ${hex(folder.files[n])}`).join('\n');
        ref = folder.expect;
        outcome = await withTimeout(engineReadFolder(dir));
      } else {
        const file = makeFile(r);
        const path = join(root, 'model.safetensors');
        writeFileSync(path, file);
        dump = hex(file);
        ref = refRead(file);
        outcome = await withTimeout(engineReadFile(path));
      }
      problem = compare(outcome, ref);
      if (outcome.kind === 'rejected') rejected++; else read++;
    } catch (e) {
      problem = `threw ${(e as Error)?.constructor?.name}: ${(e as Error)?.message ?? String(e)}`;
    }
    tried++;
    const grown = process.memoryUsage().arrayBuffers - baseline;
    if (!problem && grown > MAX_ARRAY_BUFFER_GROWTH) problem = `array buffers grew by ${grown} bytes`;
    if (problem) {
      console.log(`fuzz failure: seed ${SEED}, input ${i} (${folderCase ? 'folder' : 'file'}): ${problem}\n${dump}`);
      assert.fail(`fuzz input ${i} with seed ${SEED}: ${problem} (rerun with RANKWISE_FUZZ_SEED=${SEED})`);
    }
  }
  console.log(`fuzz: ${tried} inputs tried, ${rejected} rejected with CheckpointError, ${read} read correctly`);
  // Both verdicts must occur, or the generator has drifted into testing only one side.
  assert.ok(rejected > tried / 10 && read > tried / 10, `unbalanced inputs: ${rejected} rejected, ${read} read`);
});
