// Writes a checkpoint into a hidden temporary folder beside the destination and renames it into
// place only when complete: a crash or cancel never leaves something at `outDir` that looks finished.
// A failing output location (disk full, read-only, permissions) is an OutputError naming the
// output and the cause (output-errors.ts), never a bare errno.
import { copyFile, mkdir, open, readdir, rename, rm, stat, access, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CheckpointError } from './errors';
import { encode, type DType } from './dtype';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';
import { ErrorCodes } from '../rpc/protocol';
import { OutputError } from '../errors';
import { DESTINATION_CODES, errnoCode, outputFailure, writingTo } from './output-errors';

export interface WriterOptions { maxShardBytes?: number; metadata?: Record<string, string> }

interface Pending { name: string; dtype: DType; shape: number[]; bytes: Uint8Array }

export const TEMP_MARK = '.rankwise-tmp-';
/** Shards are buffered in memory until written, so this also bounds the writer's share of peak memory. */
export const DEFAULT_SHARD_BYTES = 2 * 1024 ** 3;

/** `.<name>.rankwise-tmp-<pid>-<8 hex>`: the pid says whether the run that writes it is still alive. */
const tempName = (outDir: string, pid: number) => `.${basename(outDir)}${TEMP_MARK}${pid}-${randomBytes(4).toString('hex')}`;

/** Temporary folders of runs towards outDir (a killed run cannot remove its own), with their writers' pids. */
export async function tempFoldersOf(outDirIn: string): Promise<{ path: string; pid: number }[]> {
  const outDir = resolve(outDirIn);
  const prefix = `.${basename(outDir)}${TEMP_MARK}`;
  const names = await readdir(dirname(outDir)).catch(() => [] as string[]);
  return names.flatMap((n) => {
    const pid = n.startsWith(prefix) ? /^(\d+)-[0-9a-f]{8}$/.exec(n.slice(prefix.length))?.[1] : undefined;
    return pid ? [{ path: join(dirname(outDir), n), pid: Number(pid) }] : [];
  });
}

/** Writes a file from these chunks and flushes it to disk, so a published checkpoint survives a power cut. */
export async function writeSynced(path: string, ...chunks: (string | Uint8Array)[]): Promise<void> {
  const fh = await open(path, 'w');
  try {
    // writeFile writes all of a chunk (write() may stop short) from the current position.
    for (const c of chunks) await fh.writeFile(c);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (renames, new files). Windows cannot open folders for this; NTFS journals them. */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** The 8-byte length and the JSON header, padded with spaces to 8 bytes, for tensors stored back to back in this order. */
export function safetensorsHeader(tensors: { name: string; dtype: DType; shape: number[]; byteLength: number }[], metadata: Record<string, string>): Buffer {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const t of tensors) {
    header[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.byteLength] };
    offset += t.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const head = Buffer.alloc(8 + Buffer.byteLength(json));
  head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
  head.write(json, 8, 'utf8');
  return head;
}

export class CheckpointWriter {
  private pending: Pending[] = [];
  private pendingBytes = 0;
  private readonly shards: { file: string; names: string[]; dataBytes: number }[] = [];
  private readonly names = new Set<string>();
  private closed = false;

  private constructor(readonly outDir: string, readonly tempDir: string, private readonly opts: Required<WriterOptions>) {}

  static async create(outDirIn: string, opts: WriterOptions = {}): Promise<CheckpointWriter> {
    const outDir = resolve(outDirIn);
    await checkOutputLocation(outDir);
    const parent = dirname(outDir);
    const tempDir = join(parent, tempName(outDir, process.pid));
    try {
      await mkdir(parent, { recursive: true });
      await mkdir(tempDir);
    } catch (e) {
      throw outputFailure(parent, 'cannot create a temporary folder', e);
    }
    return new CheckpointWriter(outDir, tempDir, { maxShardBytes: opts.maxShardBytes ?? DEFAULT_SHARD_BYTES, metadata: opts.metadata ?? {} });
  }

  async add(name: string, shape: number[], data: Float32Array, dtype: DType): Promise<void> {
    if (this.closed) throw new Error('CheckpointWriter: add after commit or abort');
    // A repeated name would be a header with a duplicate key, which readers resolve differently.
    if (this.names.has(name) || name === '__metadata__' || name === '') throw new Error(`CheckpointWriter: tensor name "${name}" is empty, reserved or already added`);
    if (!shape.every((d) => Number.isSafeInteger(d) && d >= 0) || shape.reduce((a, b) => a * b, 1) !== data.length) {
      throw new Error(`CheckpointWriter: ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    }
    this.names.add(name);
    const bytes = encode(dtype, data);
    if (this.pending.length && this.pendingBytes + bytes.byteLength > this.opts.maxShardBytes) await this.flush();
    this.pending.push({ name, dtype, shape, bytes });
    this.pendingBytes += bytes.byteLength;
  }

  /** Writes the buffered tensors as one shard: header, then data in order. */
  private async flush(): Promise<void> {
    const head = safetensorsHeader(this.pending.map((p) => ({ ...p, byteLength: p.bytes.byteLength })), { format: 'pt', ...this.opts.metadata });
    const file = join(this.tempDir, `shard-${this.shards.length}.partial`);
    await writingTo(this.outDir, `shard ${this.shards.length + 1}`, () => writeSynced(file, head, ...this.pending.map((p) => p.bytes)));
    const dataBytes = this.pending.reduce((a, p) => a + p.bytes.byteLength, 0);
    this.shards.push({ file, names: this.pending.map((p) => p.name), dataBytes });
    this.pending = [];
    this.pendingBytes = 0;
  }

  async copyFiles(fromDir: string, names: string[]): Promise<void> {
    for (const n of names) {
      const copied = await copyFile(join(fromDir, n), join(this.tempDir, n)).then(() => true, (e: NodeJS.ErrnoException) => {
        if (e.code === 'ENOENT') return false;
        if (DESTINATION_CODES.has(errnoCode(e) ?? '')) throw outputFailure(this.outDir, `cannot write ${n}`, e);
        throw new CheckpointError(`${join(fromDir, n)}: cannot copy (${e.code ?? e.message})`);
      });
      if (copied) {
        await writingTo(this.outDir, n, async () => {
          const fh = await open(join(this.tempDir, n), 'r+');
          await fh.sync().finally(() => fh.close());
        });
      }
    }
  }

  /** finalize() then publish(). */
  async commit(config: Record<string, unknown>): Promise<string[]> {
    const files = await this.finalize(config);
    await this.publish();
    return files;
  }

  /** Completes the checkpoint inside the temporary folder (loadable from `tempDir`), not yet published. */
  async finalize(config: Record<string, unknown>): Promise<string[]> {
    if (this.closed) throw new Error('CheckpointWriter: finalize after commit or abort');
    if (this.pending.length || this.shards.length === 0) await this.flush();
    const n = this.shards.length;
    const finalName = (k: number) => (n === 1 ? SINGLE_FILE : `model-${String(k + 1).padStart(5, '0')}-of-${String(n).padStart(5, '0')}.safetensors`);
    const files: string[] = [];
    const weightMap: Record<string, string> = {};
    for (const [k, s] of this.shards.entries()) {
      await writingTo(this.outDir, finalName(k), () => rename(s.file, join(this.tempDir, finalName(k))));
      files.push(finalName(k));
      for (const t of s.names) weightMap[t] = finalName(k);
    }
    if (n > 1) {
      const totalSize = this.shards.reduce((a, sh) => a + sh.dataBytes, 0);
      const index = JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n';
      await writingTo(this.outDir, INDEX_FILE, () => writeSynced(join(this.tempDir, INDEX_FILE), index));
      files.push(INDEX_FILE);
    }
    await writingTo(this.outDir, 'config.json', () => writeSynced(join(this.tempDir, 'config.json'), JSON.stringify(config, null, 2) + '\n'));
    files.push('config.json');
    await writingTo(this.outDir, 'the folder entries', () => syncDir(this.tempDir));
    this.closed = true;
    return files;
  }

  /** A further file (the run report) into the finalized folder, before publish(). */
  async addFile(name: string, text: string): Promise<void> {
    await writingTo(this.outDir, name, () => writeFile(join(this.tempDir, name), text));
  }

  /** Renames the finished temporary folder to outDir. */
  async publish(): Promise<void> {
    if (await stat(this.outDir).then(() => true, () => false)) {
      throw new OutputError(ErrorCodes.OutputExists, `${this.outDir}: appeared while writing; Rankwise never overwrites, so this run's result is discarded`);
    }
    await writingTo(this.outDir, 'the finished folder into place', () => rename(this.tempDir, this.outDir));
    await syncDir(dirname(this.outDir));
  }

  async abort(): Promise<void> {
    this.closed = true;
    this.pending = [];
    await rm(this.tempDir, { recursive: true, force: true });
  }
}

/**
 * Refuses an existing outDir and a location that cannot be written, before a run spends hours on
 * work it could not save. Creates nothing: the nearest existing folder above outDir must be writable.
 */
export async function checkOutputLocation(outDirIn: string): Promise<void> {
  const outDir = resolve(outDirIn);
  if (await stat(outDir).then(() => true, () => false)) {
    throw new OutputError(ErrorCodes.OutputExists, `${outDir}: output folder exists; Rankwise never overwrites (choose another "output" or remove it)`);
  }
  let dir = dirname(outDir);
  let info = await stat(dir).catch(() => undefined);
  while (!info && dirname(dir) !== dir) {
    dir = dirname(dir);
    info = await stat(dir).catch(() => undefined);
  }
  try {
    if (!info?.isDirectory()) throw Object.assign(new Error('not a folder'), { code: 'ENOTDIR' });
    await access(dir, constants.W_OK);
  } catch (e) {
    throw outputFailure(dir, 'cannot write the output here', e);
  }
}
