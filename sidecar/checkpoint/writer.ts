// Writes a checkpoint into a hidden temporary folder beside the destination and renames it into
// place only when complete: a crash or cancel never leaves something at `outDir` that looks finished.
import { copyFile, mkdir, open, rename, rm, stat, access } from 'node:fs/promises';
import { constants } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import { CheckpointError } from './errors';
import { encode, type DType } from './dtype';
import { INDEX_FILE, SINGLE_FILE } from './checkpoint';

export interface WriterOptions { maxShardBytes?: number; metadata?: Record<string, string> }

interface Pending { name: string; dtype: DType; shape: number[]; bytes: Uint8Array }

export const TEMP_MARK = '.rankwise-tmp-';
/** Shards are buffered in memory until written, so this also bounds the writer's share of peak memory. */
export const DEFAULT_SHARD_BYTES = 2 * 1024 ** 3;

/** Writes a file and flushes it to disk, so a published checkpoint survives a power cut. */
async function writeSynced(path: string, data: string | Uint8Array): Promise<void> {
  const fh = await open(path, 'w');
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Flushes a folder's entries (renames, new files). Windows cannot open folders for this; NTFS journals them. */
async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
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
    const exists = await stat(outDir).then(() => true, () => false);
    if (exists) throw new CheckpointError(`${outDir}: output folder exists; Rankwise never overwrites (choose another "output" or remove it)`);
    const parent = dirname(outDir);
    try {
      await mkdir(parent, { recursive: true });
      await access(parent, constants.W_OK);
    } catch (e) {
      throw new CheckpointError(`${parent}: cannot write the output here (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
    }
    const tempDir = join(parent, `.${basename(outDir)}${TEMP_MARK}${process.pid}-${randomBytes(4).toString('hex')}`);
    try {
      await mkdir(tempDir);
    } catch (e) {
      throw new CheckpointError(`${parent}: cannot create a temporary folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
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

  /** Writes the buffered tensors as one shard: header padded with spaces to 8 bytes, then data in order. */
  private async flush(): Promise<void> {
    const header: Record<string, unknown> = { __metadata__: { format: 'pt', ...this.opts.metadata } };
    let offset = 0;
    for (const p of this.pending) {
      header[p.name] = { dtype: p.dtype, shape: p.shape, data_offsets: [offset, offset + p.bytes.byteLength] };
      offset += p.bytes.byteLength;
    }
    let json = JSON.stringify(header);
    json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
    const head = Buffer.alloc(8 + Buffer.byteLength(json));
    head.writeBigUInt64LE(BigInt(Buffer.byteLength(json)), 0);
    head.write(json, 8, 'utf8');
    const file = join(this.tempDir, `shard-${this.shards.length}.partial`);
    const fh = await open(file, 'w');
    try {
      await fh.write(head);
      for (const p of this.pending) await fh.write(p.bytes);
      await fh.sync();
    } finally {
      await fh.close();
    }
    this.shards.push({ file, names: this.pending.map((p) => p.name), dataBytes: offset });
    this.pending = [];
    this.pendingBytes = 0;
  }

  async copyFiles(fromDir: string, names: string[]): Promise<void> {
    for (const n of names) {
      const copied = await copyFile(join(fromDir, n), join(this.tempDir, n)).then(() => true, (e: NodeJS.ErrnoException) => {
        if (e.code !== 'ENOENT') throw new CheckpointError(`${join(fromDir, n)}: cannot copy (${e.code ?? e.message})`);
        return false;
      });
      if (copied) {
        const fh = await open(join(this.tempDir, n), 'r+');
        await fh.sync().finally(() => fh.close());
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
      await rename(s.file, join(this.tempDir, finalName(k)));
      files.push(finalName(k));
      for (const t of s.names) weightMap[t] = finalName(k);
    }
    if (n > 1) {
      const totalSize = this.shards.reduce((a, sh) => a + sh.dataBytes, 0);
      await writeSynced(join(this.tempDir, INDEX_FILE), JSON.stringify({ metadata: { total_size: totalSize }, weight_map: weightMap }, null, 2) + '\n');
      files.push(INDEX_FILE);
    }
    await writeSynced(join(this.tempDir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
    files.push('config.json');
    await syncDir(this.tempDir);
    this.closed = true;
    return files;
  }

  /** Renames the finished temporary folder to outDir. */
  async publish(): Promise<void> {
    if (await stat(this.outDir).then(() => true, () => false)) {
      throw new CheckpointError(`${this.outDir}: appeared while writing; Rankwise never overwrites, so this run's result is discarded`);
    }
    await rename(this.tempDir, this.outDir);
    await syncDir(dirname(this.outDir));
  }

  async abort(): Promise<void> {
    this.closed = true;
    this.pending = [];
    await rm(this.tempDir, { recursive: true, force: true });
  }
}
