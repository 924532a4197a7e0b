// Storage dtypes in, float32 compute out. BF16 and F16 are encoded with round-to-nearest-even,
// as PyTorch does, so a BF16 tensor read and written back is bit-identical.
export type DType = 'F32' | 'F16' | 'BF16';
export const DTYPES: readonly DType[] = ['F32', 'F16', 'BF16'];
export const DTYPE_BYTES: Record<DType, number> = { F32: 4, F16: 2, BF16: 2 };

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 31) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

function floatToHalf(x: number): number {
  f32[0] = x;
  const b = u32[0];
  const sign = (b >>> 16) & 0x8000;
  const exp = (b >>> 23) & 0xff;
  let mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let half = mant >> shift;
    const rem = mant & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >> 13);
  const rem = mant & 0x1fff;
  // A carry out of the mantissa rounds up into the exponent (and to Infinity), as IEEE wants.
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++;
  return sign | half;
}

/** bytes' values as float32, into `out` (of exactly their count) when given. */
export function decode(dtype: DType, bytes: Uint8Array, out?: Float32Array): Float32Array {
  const n = bytes.byteLength / DTYPE_BYTES[dtype];
  if (!Number.isInteger(n)) throw new RangeError(`decode: ${bytes.byteLength} bytes are not a whole number of ${dtype} values`);
  if (out && out.length !== n) throw new RangeError(`decode: ${n} ${dtype} values into an array of ${out.length}`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  out ??= new Float32Array(n);
  if (dtype === 'F32') {
    for (let i = 0; i < n; i++) out[i] = view.getFloat32(4 * i, true);
  } else if (dtype === 'BF16') {
    const o32 = new Uint32Array(out.buffer, out.byteOffset, n);
    for (let i = 0; i < n; i++) o32[i] = view.getUint16(2 * i, true) << 16;
  } else {
    for (let i = 0; i < n; i++) out[i] = halfToFloat(view.getUint16(2 * i, true));
  }
  return out;
}

export function encode(dtype: DType, values: Float32Array): Uint8Array {
  const out = new Uint8Array(values.length * DTYPE_BYTES[dtype]);
  const view = new DataView(out.buffer);
  if (dtype === 'F32') {
    for (let i = 0; i < values.length; i++) view.setFloat32(4 * i, values[i], true);
  } else if (dtype === 'BF16') {
    for (let i = 0; i < values.length; i++) {
      f32[0] = values[i];
      const b = u32[0];
      // NaN stays a quiet NaN; otherwise round the low 16 bits to nearest, ties to even.
      const h = (b & 0x7fffffff) > 0x7f800000 ? (b >>> 16) | 0x40 : (b + 0x7fff + ((b >>> 16) & 1)) >>> 16;
      view.setUint16(2 * i, h & 0xffff, true);
    }
  } else {
    for (let i = 0; i < values.length; i++) view.setUint16(2 * i, floatToHalf(values[i]), true);
  }
  return out;
}
