// Writes a checkpoint into a hidden temporary folder beside the destination and renames it into
// place only when complete: a crash or cancel never leaves something at `outDir` that looks finished.
// A failing output location (disk full, read-only, permissions) is an OutputError naming the
// output and the cause (output-errors.ts), never a bare errno.
// Each tensor's bytes go to disk as soon as it is added (a spool file per shard, copied behind the
// header when the shard closes), so the writer holds only names, dtypes and shapes in memory,
// however large the output.
import { copyFile, mkdir, open, readdir, rename, rm, stat, access, writeFile, type FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CheckpointError } from './errors';
import { DTYPE_BYTES, encode, type DType } from './dtype';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';
import { ErrorCodes } from '../rpc/protocol';
import { OutputError } from '../errors';
import { DESTINATION_CODES, errnoCode, outputFailure, writingTo } from './output-errors';

export interface WriterOptions { maxShardBytes?: number; metadata?: Record<string, string> }

interface Entry { name: string; dtype: DType; shape: number[]; byteLength: number }

export const TEMP_MARK = '.rankwise-tmp-';
/** A shard's data is spooled and then copied behind its header, so this also bounds the extra disk space of that copy. */
export const DEFAULT_SHARD_BYTES = 2 * 1024 ** 3;
/** The buffer of the spool-to-shard copy, and the chunk to feed addEncoded in: with one computed tensor's bytes, all the memory the writer holds. */
export const COPY_CHUNK_BYTES = 1024 ** 2;

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

/** The element count of a shape, undefined if it is not a list of non-negative integers. */
const elements = (shape: number[]): number | undefined =>
  shape.every((d) => Number.isSafeInteger(d) && d >= 0) ? shape.reduce((a, b) => a * b, 1) : undefined;

/** Appends the first `length` bytes of `from` at the current position of `to`, through one bounded buffer. */
async function appendCopy(to: FileHandle, from: FileHandle, length: number): Promise<void> {
  const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK_BYTES, length));
  for (let pos = 0; pos < length;) {
    const { bytesRead } = await from.read(buf, 0, Math.min(buf.byteLength, length - pos), pos);
    if (bytesRead === 0) throw new Error(`CheckpointWriter: spool ends at byte ${pos} of ${length}`);
    await to.writeFile(buf.subarray(0, bytesRead));
    pos += bytesRead;
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
  /** The open shard: its tensors' entries, their bytes so far, and the spool file holding those bytes. */
  private entries: Entry[] = [];
  private shardBytes = 0;
  private spool?: FileHandle;
  private readonly shards: { file: string; names: string[]; dataBytes: number }[] = [];
  private readonly names = new Set<string>();
  /** Why no more tensors can be added, once none can. */
  private closedBy?: string;

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

  /** Encodes the tensor and appends it to the open shard's spool on disk before returning. */
  async add(name: string, shape: number[], data: Float32Array, dtype: DType): Promise<void> {
    this.checkName(name);
    if (elements(shape) !== data.length) throw new Error(`CheckpointWriter: ${name}: ${data.length} values for shape [${shape.join(', ')}]`);
    await this.append(name, shape, dtype, [encode(dtype, data)]);
  }

  /**
   * A tensor already in the bytes of its dtype (one copied unchanged from a checkpoint), appended
   * as they come: chunks of a stored tensor are never held whole.
   */
  async addEncoded(name: string, shape: number[], dtype: DType, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    this.checkName(name);
    if (elements(shape) === undefined) throw new Error(`CheckpointWriter: ${name}: shape [${shape.join(', ')}] is not a list of sizes`);
    await this.append(name, shape, dtype, chunks);
  }

  private checkName(name: string): void {
    if (this.closedBy) throw new Error(`CheckpointWriter: add after ${this.closedBy}`);
    // A repeated name would be a header with a duplicate key, which readers resolve differently.
    if (this.names.has(name) || name === '__metadata__' || name === '') throw new Error(`CheckpointWriter: tensor name "${name}" is empty, reserved or already added`);
  }

  private async append(name: string, shape: number[], dtype: DType, chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    this.names.add(name);
    const byteLength = elements(shape)! * DTYPE_BYTES[dtype];
    try {
      if (this.entries.length && this.shardBytes + byteLength > this.opts.maxShardBytes) await this.closeShard();
      const where = `shard ${this.shards.length + 1}`;
      const spool = this.spool ??= await writingTo(this.outDir, where, () => open(this.spoolPath(), 'w+'));
      let written = 0;
      // Only the writes are the output's failures: a chunk that cannot be read fails as its source says.
      for await (const chunk of chunks) {
        if (written + chunk.byteLength > byteLength) break;
        await writingTo(this.outDir, where, () => spool.writeFile(chunk));
        written += chunk.byteLength;
      }
      if (written !== byteLength) throw new Error(`CheckpointWriter: ${name}: not ${byteLength} bytes for shape [${shape.join(', ')}] of ${dtype}`);
    } catch (e) {
      // Part of the tensor may be in the spool: the shard can no longer be completed.
      this.closedBy = 'a failed add';
      throw e;
    }
    this.entries.push({ name, dtype, shape, byteLength });
    this.shardBytes += byteLength;
  }

  private spoolPath(): string {
    return join(this.tempDir, `shard-${this.shards.length}.spool`);
  }

  /** Writes the open shard's file, header then the spooled data, flushed, and removes the spool. */
  private async closeShard(): Promise<void> {
    const head = safetensorsHeader(this.entries, { format: 'pt', ...this.opts.metadata });
    const file = join(this.tempDir, `shard-${this.shards.length}.partial`);
    await writingTo(this.outDir, `shard ${this.shards.length + 1}`, async () => {
      const fh = await open(file, 'w');
      try {
        await fh.writeFile(head);
        if (this.spool) await appendCopy(fh, this.spool, this.shardBytes);
        await fh.sync();
      } finally {
        await fh.close();
      }
      if (this.spool) {
        await this.spool.close();
        this.spool = undefined;
        await rm(this.spoolPath());
      }
    });
    this.shards.push({ file, names: this.entries.map((e) => e.name), dataBytes: this.shardBytes });
    this.entries = [];
    this.shardBytes = 0;
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
    if (this.closedBy) throw new Error(`CheckpointWriter: finalize after ${this.closedBy}`);
    if (this.entries.length || this.shards.length === 0) await this.closeShard();
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
    this.closedBy = 'commit or abort';
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
    this.closedBy = 'commit or abort';
    this.entries = [];
    await this.spool?.close().catch(() => undefined);
    this.spool = undefined;
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
