// Every way a safetensors file can lie about itself ends in a one-line CheckpointError that names
// the file and the fault: no crash, hang or allocation sized by the lie.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseHeader, SafetensorsFile } from '../../../sidecar/checkpoint/safetensors';
import { CheckpointError } from '../../../sidecar/checkpoint/errors';
import { rawFile, tempDir } from './raw';

const FILE = '/x/model.safetensors';
const ok = (dtype: string, shape: unknown, offsets: unknown) => ({ dtype, shape, data_offsets: offsets });

/** parseHeader on a header text with `dataBytes` of data after it. */
function parse(header: string | object | Uint8Array, dataBytes = 64) {
  const h = header instanceof Uint8Array ? header : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  return parseHeader(FILE, 8 + h.byteLength + dataBytes, h);
}

function rejects(header: string | object | Uint8Array, re: RegExp, dataBytes = 64): void {
  assert.throws(() => parse(header, dataBytes), (e: unknown) => {
    assert.ok(e instanceof CheckpointError, `not a CheckpointError: ${String(e)}`);
    assert.match(e.message, /^model\.safetensors: /);
    assert.ok(!e.message.includes('\n'), 'one line');
    assert.match(e.message, re);
    return true;
  }, typeof header === 'string' ? header : JSON.stringify(header));
}

test('file-level bounds: too short, header length 0, over 100 MB, past the end', async (t) => {
  const dir = tempDir(t);
  const cases: [string, Buffer, RegExp][] = [
    ['empty', Buffer.alloc(0), /0 bytes is too short/],
    ['seven bytes', Buffer.alloc(7), /7 bytes is too short/],
    ['zero length', rawFile('', Buffer.alloc(16)), /header length is 0/],
    ['u64 max length', rawFile('{}', Buffer.alloc(0), 2n ** 64n - 1n), /header length 18446744073709551615 exceeds the 104857600-byte limit/],
    ['just over 100 MiB', rawFile('{}', Buffer.alloc(0), 100n * 1024n * 1024n + 1n), /exceeds the 104857600-byte limit/],
    ['past the end', rawFile('{"a":1}', Buffer.alloc(0), 8n), /header length 8 runs past the end of the 15-byte file/],
  ];
  for (const [name, bytes, re] of cases) {
    const path = join(dir, `${name}.safetensors`);
    writeFileSync(path, bytes);
    await assert.rejects(SafetensorsFile.open(path), (e: unknown) => e instanceof CheckpointError && e.message.startsWith(`${name}.safetensors: `) && re.test(e.message), name);
  }
  await assert.rejects(SafetensorsFile.open(join(dir, 'absent.safetensors')), (e: unknown) => e instanceof CheckpointError && /absent\.safetensors: cannot open \(ENOENT\)/.test(e.message));
});

test('header text: not UTF-8, not JSON, not an object', () => {
  rejects(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]), /header is not valid UTF-8/);
  rejects(new Uint8Array([0x7b, 0x22, 0xed, 0xa0, 0x80, 0x22, 0x3a, 0x31, 0x7d]), /not valid UTF-8/); // an encoded surrogate
  rejects('{"a": ', /header is not valid JSON/);
  rejects('{}}', /header is not valid JSON/);
  for (const h of ['[]', '5', '"x"', 'null', 'true']) rejects(h, /header is not a JSON object/);
});

test('entries: not an object, dtype, shape', () => {
  for (const v of [5, 'x', null, [1, 2]]) rejects({ a: v }, /tensor "a": entry is not an object/);
  rejects({ a: { shape: [1], data_offsets: [0, 4] } }, /tensor "a": dtype missing/);
  rejects({ a: ok('F8', [1], [0, 1]) }, /tensor "a": unknown dtype "F8"/);
  rejects({ a: ok('f32', [1], [0, 4]) }, /unknown dtype "f32"/);
  for (const d of ['I8', 'F64', 'I64', 'BOOL']) rejects({ a: ok(d, [1], [0, 8]) }, new RegExp(`tensor "a": dtype ${d} is not supported \\(F32, F16, BF16 are\\)`));
  for (const shape of ['4', [-1], [1.5], ['2'], [2 ** 53], null, [[2]]]) {
    rejects({ a: ok('F32', shape, [0, 4]) }, /tensor "a": shape must be a list of non-negative integers/);
  }
});

test('data_offsets: shape, order, size, end of file, overlap', () => {
  for (const off of [[4], [0, 4, 8], [8, 4], [0, '4'], [-4, 0], [0.5, 4.5], null, undefined, [0, 2 ** 60]]) {
    rejects({ a: ok('F32', [1], off) }, /tensor "a": data_offsets must be two ordered non-negative integers/);
  }
  rejects({ a: ok('F32', [2, 3], [0, 20]) }, /tensor "a": 20 bytes for shape \[2, 3\] of F32 \(expected 24\)/);
  rejects({ a: ok('BF16', [3], [0, 12]) }, /12 bytes for shape \[3\] of BF16 \(expected 6\)/);
  rejects({ a: ok('F32', [17], [0, 68]) }, /tensor "a": bytes 0\.\.68 lie past the end of the file \(data is 64 bytes; truncated\?\)/);
  // A huge shape with matching offsets is refused by the file size, before anything is allocated.
  rejects({ a: ok('F32', [2 ** 20, 2 ** 20, 1024], [0, 2 ** 52]) }, /lie past the end/);
  rejects({ a: ok('F32', [2 ** 30, 2 ** 30, 2 ** 30], [0, 4]) }, /expected/);
  rejects({ a: ok('F32', [4], [0, 16]), b: ok('F32', [4], [12, 28]) }, /tensors "a" and "b" overlap/);
  rejects({ b: ok('F32', [4], [8, 24]), a: ok('F32', [16], [0, 64]) }, /tensors "a" and "b" overlap/);
  rejects({ a: ok('F32', [4], [0, 16]), b: ok('F16', [8], [0, 16]) }, /overlap/);
});

test('duplicate keys, at the top level or inside an entry, are refused', () => {
  rejects('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}, "a" :{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', /key "a" twice/);
  rejects('{"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4],"dtype":"F32"}}', /key "dtype" twice/);
  rejects('{"__metadata__":{"k":"1","k":"2"}}', /key "k" twice/);
  rejects('{"a\\u0062":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"ab":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', /key "ab" twice/);
  // Keys equal only as strings inside values, or the same key in different objects, are fine.
  const fine = parse('{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"__metadata__":{"a":"\\"a\\":"}}');
  assert.deepEqual(fine.entries.map((e) => e.name), ['a', 'b']);
  assert.deepEqual(fine.metadata, { a: '"a":' });
});

test('__metadata__ must map strings to strings', () => {
  for (const m of ['x', 5, null, ['a']]) rejects({ __metadata__: m }, /__metadata__ must be an object of strings/);
  rejects({ __metadata__: { format: 'pt', n: 1 } }, /__metadata__\.n must be a string/);
  rejects({ __metadata__: { o: {} } }, /__metadata__\.o must be a string/);
});

test('valid oddities are accepted: gaps, trailing bytes, empty tensors, any key order, __proto__', () => {
  // Written as text: in an object literal "__proto__" would set the prototype instead of a key.
  const text = '{"__metadata__":{"format":"pt","__proto__":"kept"},' + JSON.stringify({
    late: ok('F16', [2, 2], [40, 48]), early: ok('F32', [2], [0, 8]), empty: ok('BF16', [0, 5], [8, 8]),
    scalar: ok('F32', [], [12, 16]), inside: ok('F32', [0], [44, 44]),
  }).slice(1);
  const r = parse(text, 100);
  const headerLen = text.length;
  assert.deepEqual(r.entries.map((e) => [e.name, e.offset - 8 - headerLen, e.byteLength]), [['late', 40, 8], ['early', 0, 8], ['empty', 8, 0], ['scalar', 12, 4], ['inside', 44, 0]]);
  assert.equal(r.entries[0].file, FILE);
  assert.equal(Object.getOwnPropertyDescriptor(r.metadata, '__proto__')?.value, 'kept');
  assert.equal(r.metadata.format, 'pt');
  assert.deepEqual(parse('  {}  ').entries, []);
});
