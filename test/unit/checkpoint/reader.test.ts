// Reading generated checkpoints (single file and sharded, every dtype), lazily, and the folder-level
// errors. Values are compared exactly: the generator stores values already rounded to the dtype.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { mkdirSync, readFileSync, renameSync, rmSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { SafetensorsFile } from '../../../sidecar/checkpoint/safetensors';
import { CheckpointError } from '../../../sidecar/checkpoint/errors';
import { encode } from '../../../sidecar/checkpoint/dtype';
import { resolveArch } from '../../../sidecar/arch/table';
import { makeCheckpoint, writeSafetensors } from '../../fixtures/checkpoints';
import { rawFile, tempDir } from './raw';

// The module object itself (an ES namespace import is frozen), so a test can wrap its open().
const fsp = createRequire(__filename)('node:fs/promises') as typeof import('node:fs/promises');

/** Records [position, length] of every read on files opened from now until the returned restore(). */
function recordReads(reads: [number, number][]): () => void {
  const realOpen = fsp.open;
  (fsp as { open: typeof fsp.open }).open = async (...args: Parameters<typeof fsp.open>) => {
    const fh = await realOpen(...args);
    const realRead = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
    (fh as { read: unknown }).read = async (buf: Buffer, off: number, len: number, pos: number) => {
      reads.push([pos, len]);
      return realRead(buf, off, len, pos);
    };
    return fh;
  };
  return () => { (fsp as { open: typeof fsp.open }).open = realOpen; };
}

const isCheckpointError = (re: RegExp) => (e: unknown) => e instanceof CheckpointError && re.test(e.message);

async function assertMatches(dir: string, fx: Awaited<ReturnType<typeof makeCheckpoint>>): Promise<void> {
  const ck = await openCheckpoint(dir);
  try {
    assert.deepEqual(ck.config, fx.config);
    assert.deepEqual([...ck.tensors.keys()].sort(), [...fx.tensors.keys()].sort());
    for (const [name, t] of fx.tensors) {
      assert.deepEqual(ck.tensors.get(name)!.shape, t.shape, name);
      // Exact (tolerance 0): the fixture's values are the stored values.
      assert.deepEqual(await ck.read(name), t.data, name);
      // readInto: into the middle of a larger array (F32's bytes land there directly), nothing else touched.
      const into = new Float32Array(t.data.length + 3).fill(-7);
      await ck.readInto(name, into.subarray(1, 1 + t.data.length));
      assert.deepEqual(into.subarray(1, 1 + t.data.length), t.data, name);
      assert.deepEqual([into[0], into[into.length - 2], into[into.length - 1]], [-7, -7, -7], name);
      await assert.rejects(ck.readInto(name, new Float32Array(t.data.length + 1)), /has \d+ values, not \d+/);
      // In chunks of at most 100 bytes (the last one shorter), the same bytes.
      const chunks: Uint8Array[] = [];
      for await (const c of ck.readRawChunks(name, 100)) chunks.push(c);
      assert.ok(chunks.slice(0, -1).every((c) => c.byteLength === 100) && chunks.at(-1)!.byteLength <= 100, name);
      assert.deepEqual(Buffer.concat(chunks), Buffer.from(await ck.readRaw(name)), name);
    }
  } finally {
    await ck.close();
  }
}

test('single-file llama checkpoints in F32, F16 and BF16 read back exactly', async (t) => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const fx = await makeCheckpoint(join(tempDir(t), 'm'), { family: 'llama', dtype, seed: 7 });
    await assertMatches(fx.dir, fx);
    const ck = await openCheckpoint(fx.dir);
    assert.equal(ck.sharded, false);
    assert.deepEqual(ck.files, [join(fx.dir, 'model.safetensors')]);
    assert.equal(ck.tensors.get('model.norm.weight')!.dtype, dtype);
    assert.ok(ck.has('lm_head.weight') && !ck.has('nope'));
    await assert.rejects(ck.read('nope'), isCheckpointError(/no tensor "nope"/));
    await assert.rejects(ck.readInto('nope', new Float32Array(1)), isCheckpointError(/no tensor "nope"/));
    await ck.close();
  }
});

test('a tensor cut short by a truncated file is an error naming it, for read, readRaw and readInto', async (t) => {
  for (const dtype of ['F32', 'BF16'] as const) {
    const fx = await makeCheckpoint(join(tempDir(t), `m-${dtype}`), { family: 'llama', dtype, seed: 8 });
    const ck = await openCheckpoint(fx.dir);
    try {
      // The tensor stored last in the file loses its last bytes after the header was read.
      const last = [...ck.tensors.values()].reduce((a, b) => (b.offset > a.offset ? b : a));
      const path = join(fx.dir, 'model.safetensors');
      truncateSync(path, readFileSync(path).length - 2);
      const early = isCheckpointError(new RegExp(`tensor "${last.name.replace(/\./g, '\\.')}" ends early`));
      await assert.rejects(ck.read(last.name), early);
      await assert.rejects(ck.readRaw(last.name), early);
      await assert.rejects(ck.readInto(last.name, new Float32Array(fx.tensors.get(last.name)!.data.length)), early);
    } finally {
      await ck.close();
    }
  }
});

test('sharded checkpoints (3 llama shards, tied; 2 gpt2 shards) read back exactly', async (t) => {
  const llama = await makeCheckpoint(join(tempDir(t), 'l'), { family: 'llama', shards: 3, tied: true, dtype: 'BF16', kvHeads: 2, seed: 3 });
  await assertMatches(llama.dir, llama);
  const gpt2 = await makeCheckpoint(join(tempDir(t), 'g'), { family: 'gpt2', shards: 2, dtype: 'F16', seed: 4 });
  await assertMatches(gpt2.dir, gpt2);
  const ck = await openCheckpoint(llama.dir);
  assert.equal(ck.sharded, true);
  assert.equal(ck.files.length, 3);
  assert.ok(!ck.has('lm_head.weight'));
  await ck.close();
});

test('the generator is deterministic per seed and writes what resolveArch expects', async (t) => {
  const a = await makeCheckpoint(join(tempDir(t), 'a'), { family: 'llama', seed: 11, layers: 3, hidden: 48, heads: 6, kvHeads: 2, intermediate: 80, vocab: 96, context: 40 });
  const b = await makeCheckpoint(join(tempDir(t), 'b'), { family: 'llama', seed: 11, layers: 3, hidden: 48, heads: 6, kvHeads: 2, intermediate: 80, vocab: 96, context: 40 });
  assert.deepEqual(readFileSync(join(a.dir, 'model.safetensors')), readFileSync(join(b.dir, 'model.safetensors')));
  const c = await makeCheckpoint(join(tempDir(t), 'c'), { family: 'llama', seed: 12 });
  assert.notDeepEqual(c.tensors.get('model.embed_tokens.weight')!.data, a.tensors.get('model.embed_tokens.weight')!.data.subarray(0, 64 * 32));

  const ck = await openCheckpoint(a.dir);
  const arch = resolveArch(ck.config, ck.tensors.keys());
  assert.deepEqual(arch.dims, { layers: 3, hidden: 48, heads: 6, kvHeads: 2, headDim: 8, intermediate: 80, eps: 1e-5, context: 40, vocab: 96 });
  assert.equal(arch.tied, false);
  for (let i = 0; i < 3; i++) {
    for (const p of arch.projections(i)) assert.ok(ck.has(`${p.name}.weight`), p.name);
    for (const n of arch.spec.norms) assert.ok(ck.has(`${arch.layer(i)}${n}.weight`), n);
  }
  assert.deepEqual(ck.tensors.get('model.layers.0.self_attn.k_proj.weight')!.shape, [16, 48]);
  assert.deepEqual(ck.tensors.get('model.layers.2.mlp.down_proj.weight')!.shape, [48, 80]);
  await ck.close();
  // Weights ~N(0, 0.02)-like small values and norms near 1, as real checkpoints have.
  const norm = a.tensors.get('model.norm.weight')!.data;
  assert.ok(Math.abs(norm.reduce((s, v) => s + v, 0) / norm.length - 1) < 0.1, 'norm weights average about 1');

  const g = await makeCheckpoint(join(tempDir(t), 'g'), { family: 'gpt2' });
  const gk = await openCheckpoint(g.dir);
  const garch = resolveArch(gk.config, gk.tensors.keys());
  assert.equal(garch.dims.intermediate, 128); // n_inner null means 4 * n_embd
  assert.equal(garch.tied, true);
  for (const p of garch.projections(1)) assert.ok(gk.has(`${p.name}.weight`) && gk.has(`${p.name}.bias`), p.name);
  assert.deepEqual(gk.tensors.get('h.0.attn.c_attn.weight')!.shape, [32, 96]);
  assert.deepEqual(gk.tensors.get('h.1.mlp.c_proj.weight')!.shape, [128, 32]);
  assert.ok(gk.has('wpe.weight') && gk.has('ln_f.bias'));
  await gk.close();

  const tied = await makeCheckpoint(join(tempDir(t), 't'), { family: 'llama', tied: true });
  const tk = await openCheckpoint(tied.dir);
  assert.equal(resolveArch(tk.config, tk.tensors.keys()).tied, true);
  assert.equal(tk.config.tie_word_embeddings, true);
  await tk.close();
});

test('reads touch only the 8-byte length, the header and the asked tensor\'s byte range', async (t) => {
  const dir = tempDir(t);
  const path = join(dir, 'model.safetensors');
  const a = new Float32Array([1, 2, 3, 4]);
  const b = new Float32Array([-1, 0.5]);
  // Garbage around and between tensors: a reader that read outside its range would still decode
  // correctly here, so the spy below is what proves the ranges.
  const data = Buffer.alloc(64, 0xab);
  Buffer.from(encode('F32', a)).copy(data, 8);
  Buffer.from(encode('F32', b)).copy(data, 40);
  const header = { a: { dtype: 'F32', shape: [2, 2], data_offsets: [8, 24] }, b: { dtype: 'F32', shape: [2], data_offsets: [40, 48] } };
  const bytes = rawFile(header, data);
  writeFileSync(path, bytes);
  const headerLen = bytes.readUInt32LE(0);

  const reads: [number, number][] = [];
  const restore = recordReads(reads);
  try {
    const sf = await SafetensorsFile.open(path);
    assert.deepEqual(reads, [[0, 8], [8, headerLen]]);
    reads.length = 0;
    assert.deepEqual(await sf.read('b'), b);
    assert.deepEqual(reads, [[8 + headerLen + 40, 8]]);
    reads.length = 0;
    assert.deepEqual(await sf.read('a'), a);
    assert.deepEqual(reads, [[8 + headerLen + 8, 16]]);
    await sf.close();
  } finally {
    restore();
  }
});

test('readRows gives the asked rows of a 2-D tensor in every dtype, reading only the stretches they lie in', async (t) => {
  for (const dtype of ['F32', 'F16', 'BF16'] as const) {
    const fx = await makeCheckpoint(join(tempDir(t), 'm'), { family: 'llama', dtype, seed: 3 });
    const ck = await openCheckpoint(fx.dir);
    const { data, shape: [count, cols] } = fx.tensors.get('model.embed_tokens.weight')!;
    const rows = [0, 1, 5, count - 2, count - 1];
    const got = await ck.readRows('model.embed_tokens.weight', rows);
    assert.deepEqual(got, Float32Array.from(rows.flatMap((r) => [...data.subarray(r * cols, (r + 1) * cols)])), dtype);
    assert.deepEqual(await ck.readRows('model.embed_tokens.weight', []), new Float32Array(0));
    await assert.rejects(ck.readRows('model.embed_tokens.weight', [3, 3]), /ascend without repeats/);
    await assert.rejects(ck.readRows('model.embed_tokens.weight', [count]), /row \d+ of tensor .* outside 0\.\.\d+/);
    await assert.rejects(ck.readRows('model.norm.weight', [0]), /not 2-D/);
    await ck.close();
  }
  // A table of 3 MiB (rows of 4 KiB): rows in its first and last MiB are two reads of at most 1
  // MiB each, nothing of the middle read.
  const dir = tempDir(t);
  const path = join(dir, 'model.safetensors');
  const cols = 1024;
  const count = 768;
  const table = Float32Array.from({ length: count * cols }, (_, i) => i);
  const bytes = rawFile({ e: { dtype: 'F32', shape: [count, cols], data_offsets: [0, table.byteLength] } }, Buffer.from(encode('F32', table)));
  writeFileSync(path, bytes);
  const base = 8 + bytes.readUInt32LE(0);
  const reads: [number, number][] = [];
  const restore = recordReads(reads);
  try {
    const sf = await SafetensorsFile.open(path);
    reads.length = 0;
    const rows = [2, 100, 255, 700, 767];
    const got = await sf.readRows('e', rows);
    assert.deepEqual(got, Float32Array.from(rows.flatMap((r) => [...table.subarray(r * cols, (r + 1) * cols)])));
    assert.deepEqual(reads, [[base + 2 * 4096, 254 * 4096], [base + 700 * 4096, 68 * 4096]]);
    await sf.close();
  } finally {
    restore();
  }
});

test('a tensor 3 GiB into a sparse file is read without reading the rest', async (t) => {
  const dir = tempDir(t);
  mkdirSync(join(dir, 'm'));
  const far = 3 * 1024 ** 3;
  const header = { pad: { dtype: 'F32', shape: [far / 4], data_offsets: [0, far] }, x: { dtype: 'F32', shape: [3], data_offsets: [far, far + 12] } };
  const head = rawFile(header);
  const path = join(dir, 'm', 'model.safetensors');
  writeFileSync(path, head);
  truncateSync(path, head.length + far + 12); // sparse: no disk, zeros
  const fh = await fsp.open(path, 'r+');
  await fh.write(Buffer.from(encode('F32', new Float32Array([7, 8, 9]))), 0, 12, head.length + far);
  await fh.close();
  writeFileSync(join(dir, 'm', 'config.json'), '{"model_type":"llama"}');
  const before = process.memoryUsage().arrayBuffers;
  const ck = await openCheckpoint(join(dir, 'm'));
  assert.deepEqual(await ck.read('x'), new Float32Array([7, 8, 9]));
  // A whole-file read would allocate 3 GiB; allow 64 MiB of unrelated noise.
  assert.ok(process.memoryUsage().arrayBuffers - before < 64 * 1024 ** 2);
  await ck.close();
});

test('folder-level errors name the folder or file and say what is wrong', async (t) => {
  const root = tempDir(t);
  await assert.rejects(openCheckpoint(join(root, 'absent')), isCheckpointError(/absent: cannot open checkpoint folder/));

  const noConfig = await makeCheckpoint(join(root, 'nc'), { family: 'llama' });
  unlinkSync(join(noConfig.dir, 'config.json'));
  await assert.rejects(openCheckpoint(noConfig.dir), isCheckpointError(/nc: no config\.json/));

  const badConfig = await makeCheckpoint(join(root, 'bc'), { family: 'llama' });
  writeFileSync(join(badConfig.dir, 'config.json'), '[1,2]');
  await assert.rejects(openCheckpoint(badConfig.dir), isCheckpointError(/bc[/\\]config\.json: must be a JSON object/));
  writeFileSync(join(badConfig.dir, 'config.json'), '{"a":');
  await assert.rejects(openCheckpoint(badConfig.dir), isCheckpointError(/config\.json: config\.json is not valid JSON/));

  mkdirSync(join(root, 'empty'));
  writeFileSync(join(root, 'empty', 'config.json'), '{}');
  await assert.rejects(openCheckpoint(join(root, 'empty')), isCheckpointError(/empty: no \.safetensors file/));

  const two = await makeCheckpoint(join(root, 'two'), { family: 'llama' });
  renameSync(join(two.dir, 'model.safetensors'), join(two.dir, 'a.safetensors'));
  writeSafetensors(join(two.dir, 'b.safetensors'), [['x', { shape: [1], data: new Float32Array([1]) }]], 'F32');
  await assert.rejects(openCheckpoint(two.dir), isCheckpointError(/two: 2 \.safetensors files but no model\.safetensors\.index\.json/));
  unlinkSync(join(two.dir, 'b.safetensors'));
  await assertMatches(two.dir, two); // one file under another name is still read
});

test('shard index errors: missing shard, wrong shard, unlisted tensor, listed but absent, bad map', async (t) => {
  const root = tempDir(t);
  const make = async (name: string) => makeCheckpoint(join(root, name), { family: 'llama', shards: 2 });
  const indexPath = (d: string) => join(d, 'model.safetensors.index.json');
  const readIndex = (d: string) => JSON.parse(readFileSync(indexPath(d), 'utf8')) as { weight_map: Record<string, string> };
  const writeIndex = (d: string, map: unknown) => writeFileSync(indexPath(d), JSON.stringify({ metadata: {}, weight_map: map }));
  const SHARD1 = 'model-00001-of-00002.safetensors', SHARD2 = 'model-00002-of-00002.safetensors';

  const missing = await make('missing');
  rmSync(join(missing.dir, SHARD2));
  await assert.rejects(openCheckpoint(missing.dir), isCheckpointError(/missing: shard model-00002-of-00002\.safetensors listed in model\.safetensors\.index\.json missing/));

  const wrong = await make('wrong');
  const wmap = readIndex(wrong.dir).weight_map;
  wmap['model.embed_tokens.weight'] = SHARD2;
  writeIndex(wrong.dir, wmap);
  await assert.rejects(openCheckpoint(wrong.dir), isCheckpointError(/"model\.embed_tokens\.weight" is in model-00001-of-00002\.safetensors but .* maps it to model-00002/));

  const unlisted = await make('unlisted');
  const umap = readIndex(unlisted.dir).weight_map;
  delete umap['model.norm.weight'];
  writeIndex(unlisted.dir, umap);
  await assert.rejects(openCheckpoint(unlisted.dir), isCheckpointError(/"model\.norm\.weight" is in model-00002-of-00002\.safetensors but .* does not list it/));

  const extra = await make('extra');
  writeIndex(extra.dir, { ...readIndex(extra.dir).weight_map, 'ghost.weight': SHARD1 });
  await assert.rejects(openCheckpoint(extra.dir), isCheckpointError(/lists 1 tensor\(s\) their shard does not contain, e\.g\. "ghost\.weight"/));

  const bad = await make('bad');
  for (const [map, re] of [
    [[1, 2], /weight_map must be an object/],
    [null, /weight_map must be an object/],
    [{ a: 3 }, /tensor "a" maps to "3", not a \.safetensors file/],
    [{ a: '../x.safetensors' }, /tensor "a" maps to "\.\.\/x\.safetensors"/],
    [{ a: 'x.bin' }, /maps to "x\.bin"/],
  ] as [unknown, RegExp][]) {
    writeIndex(bad.dir, map);
    await assert.rejects(openCheckpoint(bad.dir), isCheckpointError(re), JSON.stringify(map));
  }
  writeFileSync(indexPath(bad.dir), '{"weight_map": ');
  await assert.rejects(openCheckpoint(bad.dir), isCheckpointError(/the shard index is not valid JSON/));
});
