// Calibration and evaluation text: files and folders, seeded window sampling, evaluation windows.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { calibrationShape, evaluationWindows, readText, sampleWindows } from '../../../sidecar/data/text';
import { tempDir } from '../../helpers/temp';

test('readText: a file, a folder of .txt files in name order, clear errors', async () => {
  const dir = tempDir('text');
  writeFileSync(join(dir, 'b.txt'), 'second');
  writeFileSync(join(dir, 'a.txt'), 'first');
  writeFileSync(join(dir, 'skip.md'), 'not text');
  assert.equal(await readText(join(dir, 'a.txt')), 'first');
  assert.equal(await readText(dir), 'first\n\nsecond');
  await assert.rejects(readText(join(dir, 'none')), /not found/);
  mkdirSync(join(dir, 'empty'));
  await assert.rejects(readText(join(dir, 'empty')), /no \.txt files/);
});

test('sampleWindows: seeded, reproducible, windows are contiguous slices of the stream', () => {
  const ids = Int32Array.from({ length: 1000 }, (_, i) => i);
  const a = sampleWindows(ids, 16, 50, 3);
  assert.equal(a.length, 16 * 50);
  assert.deepEqual(a, sampleWindows(ids, 16, 50, 3));
  assert.notDeepEqual(a, sampleWindows(ids, 16, 50, 4));
  for (let s = 0; s < 16; s++) {
    const w = a.subarray(s * 50, s * 50 + 50);
    assert.ok(w.every((x, i) => i === 0 || x === w[i - 1] + 1) && w[0] >= 0 && w[49] < 1000);
  }
  assert.throws(() => sampleWindows(ids.subarray(0, 50), 1, 50, 0), /fewer than one window/);
});

test('evaluationWindows: consecutive windows of exactly L, tail dropped', () => {
  const { windows, ids } = evaluationWindows(Int32Array.from({ length: 1030 }, (_, i) => i), 256);
  assert.equal(windows, 4);
  assert.equal(ids.length, 1024);
  assert.equal(ids[1023], 1023);
});

test('calibrationShape: papers\' 256 × 2048 clipped to the context, the text and a memory budget', () => {
  // Default 2 GiB of float32 states: at hidden 4096, 2048 tokens, 32 MiB a sample, 64 samples.
  assert.deepEqual(calibrationShape({ context: 4096, hidden: 4096, tokens: 1e7 }), { samples: 64, seqLen: 2048 });
  assert.deepEqual(calibrationShape({ context: 512, hidden: 256, tokens: 1e7 }), { samples: 256, seqLen: 512 });
  // Text of 1000 tokens: a window must fit with room for a random start.
  assert.deepEqual(calibrationShape({ context: 512, hidden: 256, tokens: 1000 }), { samples: 256, seqLen: 512 });
  assert.deepEqual(calibrationShape({ context: 512, hidden: 256, tokens: 300 }), { samples: 256, seqLen: 299 });
  // 4096 hidden, 2048 tokens: 32 MiB per sample in float32; a 1 GiB budget holds 32 samples.
  assert.deepEqual(calibrationShape({ context: 4096, hidden: 4096, tokens: 1e7, activationBytes: 1024 ** 3 }), { samples: 32, seqLen: 2048 });
  assert.deepEqual(calibrationShape({ context: 512, hidden: 256, tokens: 1e7, samples: 8, seqLen: 128 }), { samples: 8, seqLen: 128 });
});
