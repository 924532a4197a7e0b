// The writer: atomic publication, refusal to overwrite, sharding, and files that an independent
// numpy reader (read_safetensors.py) decodes to the same values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { CheckpointWriter } from '../../../sidecar/checkpoint/writer';
import { openCheckpoint } from '../../../sidecar/checkpoint/checkpoint';
import { OutputError } from '../../../sidecar/errors';
import { ErrorCodes } from '../../../sidecar/rpc/protocol';
import { decode, encode, type DType } from '../../../sidecar/checkpoint/dtype';
import { prng } from '../../fixtures/checkpoints';
import { ROOT } from '../../helpers/paths';
import { tempDir } from './raw';

const PY = '/usr/bin/python3';
const SCRIPT = join(ROOT, 'test', 'unit', 'checkpoint', 'read_safetensors.py');

function randomValues(n: number, seed: number, std = 0.02): Float32Array {
  const r = prng(seed);
  return Float32Array.from({ length: n }, () => std * (r() + r() + r() - 1.5) * 2);
}

test('nothing appears at outDir until commit; the temp folder is hidden beside it', async (t) => {
  const parent = tempDir(t, 'w');
  const out = join(parent, 'compressed');
  const w = await CheckpointWriter.create(out);
  assert.equal(dirname(w.tempDir), parent);
  assert.match(basename(w.tempDir), new RegExp(`^\\.compressed\\.rankwise-tmp-${process.pid}-[0-9a-f]+$`));
  const x = randomValues(12, 1);
  await w.add('a.weight', [3, 4], x, 'F32');
  await w.add('b.weight', [12], x, 'BF16');
  assert.ok(!existsSync(out));
  writeFileSync(join(parent, 'tokenizer.json'), '{"tok":1}');
  await w.copyFiles(parent, ['tokenizer.json', 'tokenizer_config.json']); // the second is absent: skipped
  assert.ok(!existsSync(out));
  const files = await w.commit({ model_type: 'llama', hidden_size: 4 });
  assert.deepEqual(files, ['model.safetensors', 'config.json']);
  assert.deepEqual(readdirSync(parent).sort(), ['compressed', 'tokenizer.json']);
  assert.deepEqual(readdirSync(out).sort(), ['config.json', 'model.safetensors', 'tokenizer.json']);
  assert.equal(readFileSync(join(out, 'tokenizer.json'), 'utf8'), '{"tok":1}');

  const ck = await openCheckpoint(out);
  assert.deepEqual(ck.config, { model_type: 'llama', hidden_size: 4 });
  assert.deepEqual([...ck.tensors.keys()], ['a.weight', 'b.weight']); // insertion order
  assert.deepEqual(await ck.read('a.weight'), x); // F32: exact
  assert.deepEqual(await ck.read('b.weight'), decode('BF16', encode('BF16', x))); // exactly the BF16 rounding
  await ck.close();
  await w.abort(); // after a successful commit: nothing left to remove, and the result stays
  assert.ok(existsSync(join(out, 'model.safetensors')));
});

test('abort leaves nothing behind and can be called twice', async (t) => {
  const parent = tempDir(t, 'w');
  const w = await CheckpointWriter.create(join(parent, 'out'), { maxShardBytes: 16 });
  for (let i = 0; i < 4; i++) await w.add(`t${i}`, [8], randomValues(8, i), 'F32');
  assert.ok(readdirSync(w.tempDir).length > 0, 'shards were written before the abort');
  await w.abort();
  await w.abort();
  assert.deepEqual(readdirSync(parent), []);
  await assert.rejects(w.add('late', [1], new Float32Array(1), 'F32'), /add after commit or abort/);
});

test('an existing outDir is refused, before and at commit; an unusable parent is reported', async (t) => {
  const parent = tempDir(t, 'w');
  mkdirSync(join(parent, 'taken'));
  writeFileSync(join(parent, 'taken', 'keep.txt'), 'mine');
  const outputError = (code: number, re: RegExp) => (e: unknown) => e instanceof OutputError && e.code === code && re.test(e.message);
  await assert.rejects(CheckpointWriter.create(join(parent, 'taken')), outputError(ErrorCodes.OutputExists, /taken: output folder exists; Rankwise never overwrites/));
  writeFileSync(join(parent, 'file'), 'x');
  await assert.rejects(CheckpointWriter.create(join(parent, 'file')), outputError(ErrorCodes.OutputExists, /file: output folder exists/));
  await assert.rejects(CheckpointWriter.create(join(parent, 'file', 'sub')),
    outputError(ErrorCodes.OutputNotWritable, /file: cannot write the output here \((EEXIST: a file of that name exists|ENOTDIR: a part of the path is a file)/));

  // Someone else creates the destination while we write: commit fails, their folder is untouched.
  const w = await CheckpointWriter.create(join(parent, 'race'));
  await w.add('a', [2], new Float32Array([1, 2]), 'F32');
  mkdirSync(join(parent, 'race'));
  writeFileSync(join(parent, 'race', 'theirs'), 'x');
  await assert.rejects(w.commit({}), outputError(ErrorCodes.OutputExists, /race: appeared while writing/));
  assert.deepEqual(readdirSync(join(parent, 'race')), ['theirs']);
  await w.abort();
  assert.deepEqual(readdirSync(parent).sort(), ['file', 'race', 'taken']);
});

test('addEncoded refuses bytes that do not fill the shape; after a failed add only abort() is left', async (t) => {
  const parent = tempDir(t, 'w');
  for (const bytes of [8, 16]) {
    const w = await CheckpointWriter.create(join(parent, `out-${bytes}`));
    await w.add('a', [2], new Float32Array(2), 'F32');
    await assert.rejects(w.addEncoded('d', [3], 'F32', [new Uint8Array(bytes)]), /d: not 12 bytes for shape \[3\] of F32/);
    await assert.rejects(w.add('e', [1], new Float32Array(1), 'F32'), /add after a failed add/);
    await assert.rejects(w.commit({}), /finalize after a failed add/);
    await w.abort();
  }
  assert.deepEqual(readdirSync(parent), []);
});

test('add refuses duplicate names and shapes that do not match the data', async (t) => {
  const w = await CheckpointWriter.create(join(tempDir(t, 'w'), 'out'));
  await w.add('a', [2], new Float32Array(2), 'F32');
  await assert.rejects(w.add('a', [2], new Float32Array(2), 'F16'), /"a" is empty, reserved or already added/);
  await assert.rejects(w.add('__metadata__', [1], new Float32Array(1), 'F32'), /reserved/);
  await assert.rejects(w.add('b', [3], new Float32Array(2), 'F32'), /b: 2 values for shape \[3\]/);
  await assert.rejects(w.add('c', [-2, -1], new Float32Array(2), 'F32'), /c: 2 values for shape \[-2, -1\]/);
  await w.abort();
});

test('a tiny maxShardBytes gives Hugging Face shard names, an index, padded headers, and reads back', async (t) => {
  const parent = tempDir(t, 'w');
  const out = join(parent, 'sharded');
  const w = await CheckpointWriter.create(out, { maxShardBytes: 100, metadata: { rankwise: 'test' } });
  const tensors: [string, number[], DType][] = [['e', [4, 4], 'F32'], ['f', [10], 'F16'], ['g', [20], 'BF16'], ['h', [40], 'F32'], ['i', [3], 'F32']];
  const values = new Map<string, Float32Array>();
  for (const [k, [name, shape, dtype]] of tensors.entries()) {
    const x = randomValues(shape.reduce((a, b) => a * b, 1), 10 + k, 1);
    values.set(name, decode(dtype, encode(dtype, x)));
    await w.add(name, shape, x, dtype);
  }
  const files = await w.commit({ model_type: 'gpt2' });
  // e (64 B) + f (20 B) fit in 100; adding g (40 B) would not; h (160 B) is alone though too big; then i.
  const shardNames = ['model-00001-of-00004.safetensors', 'model-00002-of-00004.safetensors', 'model-00003-of-00004.safetensors', 'model-00004-of-00004.safetensors'];
  assert.deepEqual(files, [...shardNames, 'model.safetensors.index.json', 'config.json']);
  assert.deepEqual(readdirSync(out).sort(), [...files].sort(), 'no spool file is left');
  const index = JSON.parse(readFileSync(join(out, 'model.safetensors.index.json'), 'utf8'));
  assert.deepEqual(index.weight_map, { e: shardNames[0], f: shardNames[0], g: shardNames[1], h: shardNames[2], i: shardNames[3] });
  assert.equal(index.metadata.total_size, 64 + 20 + 40 + 160 + 12);
  for (const f of shardNames) {
    const bytes = readFileSync(join(out, f));
    const len = Number(bytes.readBigUInt64LE(0));
    assert.equal(len % 8, 0, `${f}: header length ${len}`);
    const header = JSON.parse(bytes.subarray(8, 8 + len).toString('utf8'));
    assert.deepEqual(header.__metadata__, { format: 'pt', rankwise: 'test' });
  }
  const ck = await openCheckpoint(out);
  assert.equal(ck.sharded, true);
  for (const [name] of tensors) assert.deepEqual(await ck.read(name), values.get(name), name); // exact: values are pre-rounded
  await ck.close();
});

test('numpy reads what the writer wrote (single file and sharded), bit for bit, with numpy\'s own rounding', async (t) => {
  const parent = tempDir(t, 'w');
  const specials = [0, -0, 1 + 2 ** -11, 1 + 2 ** -8, 1 + 3 * 2 ** -8, 65504, 65520, 1e6, -1e6, 2 ** -24, 2 ** -25, 3 * 2 ** -25, 1e-40, -1e-45, 3.4e38, Infinity, -Infinity, NaN];
  const tensors: { name: string; shape: number[]; dtype: DType; data: Float32Array }[] = [];
  for (const dtype of ['F32', 'F16', 'BF16'] as DType[]) {
    tensors.push({ name: `model.layers.0.${dtype}.specials`, shape: [specials.length], dtype, data: new Float32Array(specials) });
    tensors.push({ name: `model.layers.0.${dtype}.weight`, shape: [24, 40], dtype, data: randomValues(960, dtype.length, 0.5) });
  }
  const originals: Record<string, number[]> = {};
  for (const x of tensors) originals[x.name] = Array.from(new Uint32Array(x.data.buffer));
  for (const [tag, maxShardBytes] of [['single', undefined], ['sharded', 4000]] as const) {
    const out = join(parent, tag);
    const w = await CheckpointWriter.create(out, { maxShardBytes });
    for (const x of tensors) await w.add(x.name, x.shape, x.data, x.dtype);
    const files = await w.commit({ model_type: 'llama' });
    assert.equal(files.length > 2, tag === 'sharded');
    const report = JSON.parse(execFileSync(PY, [SCRIPT, out], { input: JSON.stringify(originals), encoding: 'utf8' })) as {
      problems: string[]; tensors: Record<string, { dtype: string; shape: number[]; bits: number[]; rounding_matches_numpy: boolean }>;
    };
    assert.deepEqual(report.problems, [], tag);
    assert.deepEqual(Object.keys(report.tensors).sort(), tensors.map((x) => x.name).sort());
    for (const x of tensors) {
      const r = report.tensors[x.name];
      assert.equal(r.dtype, x.dtype);
      assert.deepEqual(r.shape, x.shape);
      assert.ok(r.rounding_matches_numpy, `${tag} ${x.name}: stored bytes differ from numpy's rounding`);
      // Exact (tolerance 0): numpy's decoding must give our own decode(encode(x)), bit for bit, NaN as NaN.
      const ours = decode(x.dtype, encode(x.dtype, x.data));
      const theirs = new Float32Array(new Uint32Array(r.bits).buffer);
      ours.forEach((v, i) => assert.ok(Number.isNaN(v) ? Number.isNaN(theirs[i]) : Object.is(v, theirs[i]), `${x.name}[${i}]: ${v} vs ${theirs[i]}`));
    }
  }
});

test('every tensor is on disk when add() returns: the writer holds no tensor bytes, however large its shard', async (t) => {
  const parent = tempDir(t, 'w');
  // The default shard size (2 GiB): nothing here fills a shard, so only streaming puts bytes on disk.
  const w = await CheckpointWriter.create(join(parent, 'out'));
  const onDisk = () => readdirSync(w.tempDir).reduce((a, f) => a + statSync(join(w.tempDir, f)).size, 0);
  const x = randomValues(1000, 3, 1);
  await w.add('a', [10, 100], x, 'F32');
  assert.equal(onDisk(), 4000);
  await w.add('b', [1000], x, 'BF16');
  assert.equal(onDisk(), 6000);
  // Bytes already in their dtype go as given, chunk by chunk: the same file as add() of their values.
  const f16 = encode('F16', x);
  await w.addEncoded('c', [1000], 'F16', [f16.subarray(0, 1500), f16.subarray(1500)]);
  assert.equal(onDisk(), 8000);
  await w.commit({});
  const ck = await openCheckpoint(join(parent, 'out'));
  assert.deepEqual(await ck.read('c'), decode('F16', encode('F16', x)));
  await ck.close();
  const viaAdd = await CheckpointWriter.create(join(parent, 'again'));
  await viaAdd.add('a', [10, 100], x, 'F32');
  await viaAdd.add('b', [1000], x, 'BF16');
  await viaAdd.add('c', [1000], x, 'F16');
  await viaAdd.commit({});
  assert.deepEqual(readFileSync(join(parent, 'again', 'model.safetensors')), readFileSync(join(parent, 'out', 'model.safetensors')));
});
