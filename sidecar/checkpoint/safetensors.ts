// safetensors: 8-byte little-endian header length, a JSON header, then the tensor bytes. The header
// is checked against the file before anything trusts it; tensors are read by byte range on demand.
import { open, type FileHandle } from 'node:fs/promises';
import { endianness } from 'node:os';
import { basename } from 'node:path';
import { CheckpointError } from './errors';
import { decode, DTYPE_BYTES, DTYPES, type DType } from './dtype';

export interface TensorEntry { name: string; dtype: DType; shape: number[]; file: string; offset: number; byteLength: number }

/** F32's file bytes are this host's float32 bytes. */
const LITTLE_ENDIAN = endianness() === 'LE';

/** Larger headers are refused: real ones are kilobytes, and this bounds what a bad file can make us allocate. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
/** readRows reads a table in pieces of about this many bytes. */
const ROWS_READ_BYTES = 1 << 20;
const OTHER_DTYPES = new Set(['F64', 'I64', 'I32', 'I16', 'I8', 'U8', 'U16', 'U32', 'U64', 'BOOL', 'F8_E4M3', 'F8_E5M2']);

/**
 * JSON.parse silently keeps the last of duplicate keys, so a header naming a tensor (or a field)
 * twice would be read as whichever came last. Scans the already-parsed text for a repeated key in
 * any one object and returns it.
 */
function duplicateKey(text: string): string | undefined {
  const open: (Set<string> | null)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const keys = open[open.length - 1];
      if (keys) {
        let k = j + 1;
        while (text[k] === ' ' || text[k] === '\t' || text[k] === '\n' || text[k] === '\r') k++;
        if (text[k] === ':') {
          const key = JSON.parse(text.slice(i, j + 1)) as string;
          if (keys.has(key)) return key;
          keys.add(key);
        }
      }
      i = j;
    } else if (c === '{') open.push(new Set());
    else if (c === '[') open.push(null);
    else if (c === '}' || c === ']') open.pop();
  }
  return undefined;
}

export function parseHeader(file: string, fileSize: number, headerBytes: Uint8Array): { entries: TensorEntry[]; metadata: Record<string, string> } {
  const where = basename(file);
  const fail = (msg: string): never => { throw new CheckpointError(`${where}: ${msg}`); };
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    return fail('header is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('header is not a JSON object');
  const dup = duplicateKey(text);
  if (dup !== undefined) fail(`header has the key "${dup}" twice in one object`);
  const dataStart = 8 + headerBytes.byteLength;
  const dataSize = fileSize - dataStart;
  const metadata: [string, string][] = [];
  const entries: TensorEntry[] = [];
  for (const [name, v] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v)) fail('__metadata__ must be an object of strings');
      for (const [k, s] of Object.entries(v as Record<string, unknown>)) {
        if (typeof s !== 'string') fail(`__metadata__.${k} must be a string`);
        metadata.push([k, s as string]);
      }
      continue;
    }
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`tensor "${name}": entry is not an object`);
    const e = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string') fail(`tensor "${name}": dtype missing`);
    const dtype = e.dtype as string;
    if (!DTYPES.includes(dtype as DType)) {
      fail(OTHER_DTYPES.has(dtype) ? `tensor "${name}": dtype ${dtype} is not supported (F32, F16, BF16 are)` : `tensor "${name}": unknown dtype "${dtype}"`);
    }
    if (!Array.isArray(e.shape) || e.shape.some((d) => !Number.isSafeInteger(d) || d < 0)) fail(`tensor "${name}": shape must be a list of non-negative integers`);
    const shape = e.shape as number[];
    const off = e.data_offsets;
    if (!Array.isArray(off) || off.length !== 2 || !off.every((o) => Number.isSafeInteger(o) && o >= 0) || off[0] > off[1]) {
      fail(`tensor "${name}": data_offsets must be two ordered non-negative integers`);
    }
    const [begin, end] = off as [number, number];
    const elements = shape.reduce((a, b) => a * b, 1);
    if (!Number.isSafeInteger(elements * DTYPE_BYTES[dtype as DType]) || end - begin !== elements * DTYPE_BYTES[dtype as DType]) {
      fail(`tensor "${name}": ${end - begin} bytes for shape [${shape.join(', ')}] of ${dtype} (expected ${elements * DTYPE_BYTES[dtype as DType]})`);
    }
    if (end > dataSize) fail(`tensor "${name}": bytes ${begin}..${end} lie past the end of the file (data is ${dataSize} bytes; truncated?)`);
    entries.push({ name, dtype: dtype as DType, shape, file, offset: dataStart + begin, byteLength: end - begin });
  }
  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const sorted = entries.filter((e) => e.byteLength > 0).sort((a, b) => a.offset - b.offset);
  for (let i = 1; i < sorted.length; i++) {
    const p = sorted[i - 1];
    if (sorted[i].offset < p.offset + p.byteLength) fail(`tensors "${p.name}" and "${sorted[i].name}" overlap`);
  }
  // fromEntries defines own properties, so even a key like "__proto__" is kept as data.
  return { entries, metadata: Object.fromEntries(metadata) };
}

/** Fills buf from `position`; a short read means the file shrank under us. */
async function readExactly(fh: FileHandle, buf: Uint8Array, position: number, fail: () => never): Promise<void> {
  let got = 0;
  while (got < buf.byteLength) {
    const { bytesRead } = await fh.read(buf, got, buf.byteLength - got, position + got);
    if (bytesRead === 0) fail();
    got += bytesRead;
  }
}

export class SafetensorsFile {
  private constructor(
    readonly path: string,
    private readonly fh: FileHandle,
    readonly entries: Map<string, TensorEntry>,
    readonly metadata: Record<string, string>,
  ) {}

  static async open(path: string): Promise<SafetensorsFile> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (e) {
      throw new CheckpointError(`${basename(path)}: cannot open (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    try {
      const size = (await fh.stat()).size;
      if (size < 8) throw new CheckpointError(`${basename(path)}: ${size} bytes is too short for a safetensors file`);
      const lenBuf = Buffer.alloc(8);
      const shrank = (): never => { throw new CheckpointError(`${basename(path)}: file ends early (changed while reading?)`); };
      await readExactly(fh, lenBuf, 0, shrank);
      const len = lenBuf.readBigUInt64LE(0);
      if (len === 0n) throw new CheckpointError(`${basename(path)}: header length is 0`);
      if (len > BigInt(MAX_HEADER_BYTES)) throw new CheckpointError(`${basename(path)}: header length ${len} exceeds the ${MAX_HEADER_BYTES}-byte limit`);
      if (len > BigInt(size - 8)) throw new CheckpointError(`${basename(path)}: header length ${len} runs past the end of the ${size}-byte file (truncated?)`);
      const header = Buffer.alloc(Number(len));
      await readExactly(fh, header, 8, shrank);
      const { entries, metadata } = parseHeader(path, size, header);
      return new SafetensorsFile(path, fh, new Map(entries.map((e) => [e.name, e])), metadata);
    } catch (e) {
      await fh.close();
      throw e;
    }
  }

  async readRaw(name: string): Promise<Uint8Array> {
    const e = this.entry(name);
    const buf = Buffer.alloc(e.byteLength);
    await readExactly(this.fh, buf, e.offset, () => {
      throw new CheckpointError(`${basename(this.path)}: tensor "${name}" ends early (file changed or truncated)`);
    });
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  /** The tensor's stored bytes in pieces of at most chunkBytes: a copy that never holds it whole. */
  async *readRawChunks(name: string, chunkBytes: number): AsyncGenerator<Uint8Array> {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${basename(this.path)}: no tensor "${name}"`);
    for (let pos = 0; pos < e.byteLength; pos += chunkBytes) {
      const buf = Buffer.alloc(Math.min(chunkBytes, e.byteLength - pos));
      await readExactly(this.fh, buf, e.offset + pos, () => {
        throw new CheckpointError(`${basename(this.path)}: tensor "${name}" ends early (file changed or truncated)`);
      });
      yield buf;
    }
  }

  async read(name: string): Promise<Float32Array> {
    const e = this.entry(name);
    const out = new Float32Array(e.byteLength / DTYPE_BYTES[e.dtype]);
    await this.readInto(name, out);
    return out;
  }

  /** The tensor's values as float32 into `out` (its element count exactly). F32 on a little-endian
   *  host is read straight into out's bytes: no copy of the file's bytes is made (the engine reads
   *  layers into tensors' own memory this way, model/layer.ts). */
  async readInto(name: string, out: Float32Array): Promise<void> {
    const e = this.entry(name);
    const n = e.byteLength / DTYPE_BYTES[e.dtype];
    if (out.length !== n) throw new RangeError(`${basename(this.path)}: tensor "${name}" has ${n} values, not ${out.length}`);
    if (e.dtype !== 'F32' || !LITTLE_ENDIAN) {
      decode(e.dtype, await this.readRaw(name), out);
      return;
    }
    await readExactly(this.fh, new Uint8Array(out.buffer, out.byteOffset, out.byteLength), e.offset, () => {
      throw new CheckpointError(`${basename(this.path)}: tensor "${name}" ends early (file changed or truncated)`);
    });
  }

  /**
   * Rows `rows` (ascending, distinct) of 2-D tensor `name` as float32, row k of the result being
   * row rows[k]: one pass over the tensor in reads of about ROWS_READ_BYTES, skipping the stretches
   * no row is asked from, so a lookup of a few rows never holds the whole table (the token
   * embedding, 63 MiB at 32k × 512, when calibration embeds a few thousand distinct tokens).
   */
  async readRows(name: string, rows: ArrayLike<number>): Promise<Float32Array> {
    const e = this.entry(name);
    if (e.shape.length !== 2) throw new RangeError(`${basename(this.path)}: tensor "${name}" is not 2-D`);
    const [count, cols] = e.shape;
    for (let k = 0; k < rows.length; k++) {
      if (!Number.isInteger(rows[k]) || rows[k] < 0 || rows[k] >= count) throw new RangeError(`${basename(this.path)}: row ${rows[k]} of tensor "${name}" outside 0..${count - 1}`);
      if (k > 0 && rows[k] <= rows[k - 1]) throw new RangeError(`readRows: rows must ascend without repeats (${rows[k - 1]} then ${rows[k]})`);
    }
    const rowBytes = cols * DTYPE_BYTES[e.dtype];
    const perRead = Math.max(1, Math.floor(ROWS_READ_BYTES / rowBytes));
    const out = new Float32Array(rows.length * cols);
    const buf = new Uint8Array(Math.min(perRead, count) * rowBytes);
    for (let k = 0; k < rows.length;) {
      // A stretch from the next wanted row, as far as one read reaches.
      const first = rows[k];
      let last = first;
      for (let j = k + 1; j < rows.length && rows[j] < first + perRead; j++) last = rows[j];
      const bytes = buf.subarray(0, (last - first + 1) * rowBytes);
      await readExactly(this.fh, bytes, e.offset + first * rowBytes, () => {
        throw new CheckpointError(`${basename(this.path)}: tensor "${name}" ends early (file changed or truncated)`);
      });
      for (; k < rows.length && rows[k] <= last; k++) {
        const at = (rows[k] - first) * rowBytes;
        decode(e.dtype, bytes.subarray(at, at + rowBytes), out.subarray(k * cols, (k + 1) * cols));
      }
    }
    return out;
  }

  private entry(name: string): TensorEntry {
    const e = this.entries.get(name);
    if (!e) throw new CheckpointError(`${basename(this.path)}: no tensor "${name}"`);
    return e;
  }

  async close(): Promise<void> {
    await this.fh.close();
  }
}
