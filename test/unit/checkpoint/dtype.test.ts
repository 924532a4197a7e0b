// F32/F16/BF16 conversion, checked against oracles written here from the IEEE definitions (nearest
// representable value, ties to the even code) rather than against the bit tricks in dtype.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { decode, encode, DTYPE_BYTES } from '../../../sidecar/checkpoint/dtype';
import { prng } from '../../fixtures/checkpoints';

// All comparisons in this file are exact (tolerance 0): rounding to a storage type is a function.

const bits = new Uint32Array(1);
const asFloat = new Float32Array(bits.buffer);
const f32FromBits = (b: number) => { bits[0] = b; return asFloat[0]; };
const bitsOfF32 = (x: number) => { asFloat[0] = x; return bits[0]; };

const u16 = (bytes: Uint8Array) => Array.from(new Uint16Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength)));
const fromU16 = (codes: number[]) => new Uint8Array(new Uint16Array(codes).buffer);

/** Value of a half-precision code from the definition: sign, 5-bit exponent (bias 15), 10-bit fraction. */
function halfValue(h: number): number {
  const e = (h >> 10) & 31, m = h & 1023, s = h & 0x8000 ? -1 : 1;
  if (e === 31) return m ? NaN : s * Infinity;
  return e === 0 ? s * m * 2 ** -24 : s * 2 ** (e - 15) * (1 + m / 1024);
}

/** Non-negative half values indexed by code; 0x7c00 stands for 2^16, where rounding goes to Infinity. */
const HALF_UP = Array.from({ length: 0x7c01 }, (_, c) => (c === 0x7c00 ? 65536 : halfValue(c)));

function nearestHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65536) return sign | 0x7c00;
  let lo = 0, hi = 0x7c00; // largest code with value <= a
  while (lo < hi) { const mid = (lo + hi + 1) >> 1; if (HALF_UP[mid] <= a) lo = mid; else hi = mid - 1; }
  if (HALF_UP[lo] === a) return sign | lo;
  const dl = a - HALF_UP[lo], du = HALF_UP[lo + 1] - a;
  return sign | (dl < du || (dl === du && lo % 2 === 0) ? lo : lo + 1);
}

function nearestBf16(x: number): number {
  const b = bitsOfF32(x);
  const down = b >>> 16, up = down + 1; // truncation, and one code further from zero
  if (Number.isNaN(x)) return -1;
  if ((b & 0xffff) === 0) return down;
  // Past the largest finite code, Infinity counts as 2^128 (the next step), as IEEE overflow rounding says.
  const upValue = (up & 0x7fff) === 0x7f80 ? Math.sign(x) * 2 ** 128 : f32FromBits((up << 16) >>> 0);
  const dl = Math.abs(x - f32FromBits(down << 16)), du = Math.abs(upValue - x);
  return dl < du || (dl === du && down % 2 === 0) ? down : up;
}

function randomF32Patterns(n: number, seed: number): Float32Array {
  const r = prng(seed);
  const out = new Float32Array(n);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < n; i++) u[i] = (r() * 2 ** 32) >>> 0;
  return out;
}

test('byte sizes', () => {
  assert.deepEqual(DTYPE_BYTES, { F32: 4, F16: 2, BF16: 2 });
});

test('F32 round trip keeps every bit pattern except NaN payloads', () => {
  const x = randomF32Patterns(100_000, 1);
  const y = decode('F32', encode('F32', x));
  for (let i = 0; i < x.length; i++) {
    if (Number.isNaN(x[i])) assert.ok(Number.isNaN(y[i]));
    else assert.equal(bitsOfF32(y[i]), bitsOfF32(x[i]), `index ${i}`);
  }
  // Little-endian on disk whatever the host: 1.0f is 00 00 80 3f.
  assert.deepEqual([...encode('F32', new Float32Array([1]))], [0, 0, 0x80, 0x3f]);
});

test('F16 decode of known codes', () => {
  const cases: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0400, 2 ** -14], [0x0001, 2 ** -24], [0x03ff, 1023 * 2 ** -24],
    [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
  ];
  const got = decode('F16', fromU16(cases.map((c) => c[0])));
  cases.forEach(([, v], i) => assert.equal(got[i], v, `code ${cases[i][0].toString(16)}`));
  const z = decode('F16', fromU16([0x8000, 0x7e00, 0x7c01, 0xfe00]));
  assert.ok(Object.is(z[0], -0));
  assert.ok(z.slice(1).every(Number.isNaN));
  // Little-endian: 1.0 is 00 3c.
  assert.deepEqual([...encode('F16', new Float32Array([1]))], [0, 0x3c]);
});

test('F16: every code decodes to its defined value and encodes back to itself', () => {
  const codes = Array.from({ length: 65536 }, (_, c) => c);
  const values = decode('F16', fromU16(codes));
  const back = u16(encode('F16', values));
  for (const c of codes) {
    const v = halfValue(c);
    if (Number.isNaN(v)) {
      assert.ok(Number.isNaN(values[c]) && (back[c] & 0x7fff) > 0x7c00, `NaN code ${c.toString(16)}`);
    } else {
      assert.ok(Object.is(values[c], v), `code ${c.toString(16)}: ${values[c]} != ${v}`);
      assert.equal(back[c], c, `code ${c.toString(16)}`);
    }
  }
});

test('F16 encode rounds to nearest, ties to even (random, ties, overflow, subnormals)', () => {
  const special = [
    1 + 2 ** -11, 1 + 3 * 2 ** -11, // ties: down to 1 (even), up to 1+2^-9 (even)
    65504, 65519.99, 65520, -65520, 1e10, 2 ** -25, 2 ** -25 * 1.0001, 3 * 2 ** -25, 2 ** -26, 2 ** -24 * 1.5,
    2 ** -14 - 2 ** -25, 1e-45, -1e-45, 0, -0, Infinity, -Infinity, NaN,
  ];
  // Random values in the half range, exponents spread uniformly so subnormals and large values both occur.
  const r = prng(2);
  const random = Array.from({ length: 200_000 }, () => (r() < 0.5 ? -1 : 1) * 2 ** (r() * 44 - 28));
  const x = new Float32Array([...special, ...random, ...randomF32Patterns(50_000, 3)]);
  const got = u16(encode('F16', x));
  for (let i = 0; i < x.length; i++) {
    const want = nearestHalf(x[i]);
    if (want === 0x7e00) assert.ok((got[i] & 0x7fff) > 0x7c00, `NaN at ${i}`);
    else assert.equal(got[i], want, `x=${x[i]} gave ${got[i].toString(16)}, want ${want.toString(16)}`);
  }
});

test('BF16 encode rounds to nearest, ties to even; NaN stays NaN; decode is exact', () => {
  const special = [
    1 + 2 ** -8, 1 + 3 * 2 ** -8, -(1 + 2 ** -8), // ties
    f32FromBits(0x7f7fffff), f32FromBits(0x7f7f7fff), f32FromBits(0x00000001), f32FromBits(0x00008000), f32FromBits(0x00018000),
    f32FromBits(0x7f800001), f32FromBits(0xff800001), f32FromBits(0x7fc00000), Infinity, -Infinity, 0, -0,
  ];
  const x = new Float32Array([...special, ...randomF32Patterns(300_000, 4)]);
  const got = u16(encode('BF16', x));
  const dec = decode('BF16', encode('BF16', x));
  for (let i = 0; i < x.length; i++) {
    const want = nearestBf16(x[i]);
    if (want < 0) {
      assert.ok((got[i] & 0x7fff) > 0x7f80, `NaN at ${i} became ${got[i].toString(16)}`);
      assert.ok(Number.isNaN(dec[i]));
    } else {
      assert.equal(got[i], want, `x bits ${bitsOfF32(x[i]).toString(16)} gave ${got[i].toString(16)}, want ${want.toString(16)}`);
      assert.equal(bitsOfF32(dec[i]), (want << 16) >>> 0);
    }
  }
});

test('decode reads unaligned views and refuses a partial value', () => {
  const raw = new Uint8Array(9);
  raw.set(encode('F32', new Float32Array([1.5, -2])), 1);
  assert.deepEqual([...decode('F32', raw.subarray(1))], [1.5, -2]);
  assert.throws(() => decode('F16', new Uint8Array(3)), RangeError);
});
