// Rotary position embeddings, rotate-half layout (Hugging Face Llama), with the config's rope_theta
// and rope_scaling. Scalings follow transformers' modeling_rope_utils: "linear" divides positions by
// the factor, "dynamic" (NTK) raises the base only beyond the trained context, "llama3" rescales
// frequencies by wavelength. Other types change attention itself and are refused, not approximated.
import * as tf from '@tensorflow/tfjs-core';

export interface RopeScaling {
  type?: string; rope_type?: string; factor?: number;
  low_freq_factor?: number; high_freq_factor?: number; original_max_position_embeddings?: number;
}

export class RopeError extends Error {}

/** Inverse frequencies (headDim / 2 of them) for a sequence of length seqLen. */
export function inverseFrequencies(headDim: number, theta: number, seqLen: number, context: number, scaling?: RopeScaling | null): Float64Array {
  const type = scaling ? scaling.rope_type ?? scaling.type ?? 'default' : 'default';
  const factor = scaling?.factor ?? 1;
  let base = theta;
  if (type === 'dynamic' && seqLen > context) base = theta * ((factor * seqLen) / context - (factor - 1)) ** (headDim / (headDim - 2));
  const inv = Float64Array.from({ length: headDim / 2 }, (_, j) => base ** (-(2 * j) / headDim));
  switch (type) {
    case 'default':
    case 'dynamic':
      return inv;
    case 'linear':
      return inv.map((f) => f / factor);
    case 'llama3': {
      const old = scaling?.original_max_position_embeddings ?? 8192;
      const low = scaling?.low_freq_factor ?? 1;
      const high = scaling?.high_freq_factor ?? 4;
      return inv.map((f) => {
        const wavelen = (2 * Math.PI) / f;
        if (wavelen < old / high) return f;
        if (wavelen > old / low) return f / factor;
        const smooth = (old / wavelen - low) / (high - low);
        return (1 - smooth) * (f / factor) + smooth * f;
      });
    }
    default:
      throw new RopeError(`config.json: rope_scaling type "${type}" is not supported (supported: linear, dynamic, llama3)`);
  }
}

let memo: { key: string; cos: Float32Array; sin: Float32Array } | undefined;

/** cos and sin tables [seqLen, headDim] for positions 0..seqLen−1 (both halves repeat the frequencies). */
export function ropeTables(seqLen: number, headDim: number, theta: number, context: number, scaling?: RopeScaling | null): { cos: tf.Tensor2D; sin: tf.Tensor2D } {
  const key = JSON.stringify([seqLen, headDim, theta, context, scaling ?? null]);
  if (memo?.key !== key) {
    const inv = inverseFrequencies(headDim, theta, seqLen, context, scaling);
    const half = headDim / 2;
    const cos = new Float32Array(seqLen * headDim);
    const sin = new Float32Array(seqLen * headDim);
    for (let t = 0; t < seqLen; t++) {
      for (let j = 0; j < half; j++) {
        const a = t * inv[j];
        cos[t * headDim + j] = cos[t * headDim + j + half] = Math.cos(a);
        sin[t * headDim + j] = sin[t * headDim + j + half] = Math.sin(a);
      }
    }
    memo = { key, cos, sin };
  }
  return { cos: tf.tensor2d(memo.cos, [seqLen, headDim]), sin: tf.tensor2d(memo.sin, [seqLen, headDim]) };
}

let halfMemo: { hd: number; r: Float32Array } | undefined;

/** R [hd, hd] with x R = rotate_half(x) = cat(−x₂, x₁): a signed permutation, so the product is exact. */
function rotateHalfMatrix(hd: number): tf.Tensor2D {
  if (halfMemo?.hd !== hd) {
    const r = new Float32Array(hd * hd);
    const h = hd / 2;
    for (let j = 0; j < h; j++) {
      r[(j + h) * hd + j] = -1;
      r[j * hd + j + h] = 1;
    }
    halfMemo = { hd, r };
  }
  return tf.tensor2d(halfMemo.r, [hd, hd]);
}

/**
 * x [B, heads, T, hd] rotated: x·cos + rotate_half(x)·sin. rotate_half as one 2-D matMul: on
 * tfjs-wasm the split/neg/concat it replaces cost 6× more (measured when tfjs's Slice still copied its
 * whole input out of the heap; sidecar/tensor/wasm-slice.ts now reads it in place).
 */
export function applyRope(x: tf.Tensor4D, cos: tf.Tensor2D, sin: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const [B, h, T, hd] = x.shape;
    const rot = tf.reshape(tf.matMul(tf.reshape(x, [B * h * T, hd]) as tf.Tensor2D, rotateHalfMatrix(hd)), x.shape);
    return tf.add(tf.mul(x, cos), tf.mul(rot, sin)) as tf.Tensor4D;
  });
}
