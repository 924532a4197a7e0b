// Blocks of Householder reflectors in compact WY form (LAPACK's larft and larfb):
// H_0 H_1 … H_{nb−1} = I − V T Vᵀ, so that nb reflectors act on many vectors through two matrix
// products (gemmStrided) instead of nb passes of dot products and axpys. Used by the tall QR's
// updates and Q (householder-qr.ts) and by the bidiagonal's Q and P on the bases (bidiagonal.ts).
import { gemmStrided, type Block } from './matrix';

export interface ReflectorBlock {
  /** The first coordinate the block acts on, and how many from there. */
  k0: number;
  len: number;
  nb: number;
  /** The rows of Vᵀ from coordinate k0: row i is zero before i and 1 at i. */
  v: Block;
  /** T, nb × nb upper triangular, row-major. */
  t: Float64Array;
}

/** The block of the nb reflectors whose vectors are the rows of `v` (with factors tau[0..nb−1]). */
export function reflectorBlock(v: Block, k0: number, len: number, nb: number, tau: Float64Array): ReflectorBlock {
  return { k0, len, nb, v, t: triangle(v, len, nb, tau) };
}

/** T (larft, forward and columnwise): T[0:i, i] = −τ_i T[0:i, 0:i] (V[:, 0:i]ᵀ v_i), T[i, i] = τ_i. */
function triangle(v: Block, len: number, nb: number, tau: Float64Array): Float64Array {
  const { data, at, ld } = v;
  const t = new Float64Array(nb * nb);
  const z = new Float64Array(nb);
  for (let i = 0; i < nb; i++) {
    t[i * nb + i] = tau[i];
    if (tau[i] === 0) continue;
    // z_j = v_jᵀ v_i for j < i (v_i is zero before coordinate i).
    const vi = at + i * ld;
    for (let j = 0; j < i; j++) {
      const vj = at + j * ld;
      let s = 0;
      for (let q = i; q < len; q++) s += data[vj + q] * data[vi + q];
      z[j] = s;
    }
    for (let j = 0; j < i; j++) {
      let s = 0;
      for (let l = j; l < i; l++) s += t[j * nb + l] * z[l];
      t[j * nb + i] = -tau[i] * s;
    }
  }
  return t;
}

/**
 * C ← Q_b C (or Q_bᵀ C with `transpose`) for the `count` vectors held as the rows of `c` (element
 * (r, q) at data[at + r·ld + q]): W = Vᵀ C, W ← T W (or Tᵀ W), C −= V W, on coordinates k0.. only.
 * Each vector's arithmetic is independent of the others, so threads may take ranges of rows.
 */
export function applyBlock(b: ReflectorBlock, c: Block, count: number, transpose: boolean): void {
  if (count <= 0) return;
  const { k0, len, nb, t } = b;
  const cb = { data: c.data, at: c.at + k0, ld: c.ld };
  // Wᵀ (count × nb): rows of C against rows of Vᵀ.
  const wt = new Float64Array(count * nb);
  gemmStrided(cb, b.v, count, len, nb, { data: wt, at: 0, ld: nb });
  // Wᵀ ← −Wᵀ Tᵀ (or −Wᵀ T): each row of Wᵀ times the small triangle, negated for the update.
  const row = new Float64Array(nb);
  for (let r = 0; r < count; r++) {
    const o = r * nb;
    for (let i = 0; i < nb; i++) {
      let s = 0;
      if (transpose) for (let l = 0; l <= i; l++) s += t[l * nb + i] * wt[o + l];
      else for (let l = i; l < nb; l++) s += t[i * nb + l] * wt[o + l];
      row[i] = -s;
    }
    wt.set(row, o);
  }
  // C += (−W)ᵀ Vᵀ: rows of Wᵀ against rows of V (V itself, transposed out of the block for the product).
  const { data, at, ld } = b.v;
  const vc = new Float64Array(len * nb);
  for (let i = 0; i < nb; i++) for (let q = i, src = at + i * ld; q < len; q++) vc[q * nb + i] = data[src + q];
  gemmStrided({ data: wt, at: 0, ld: nb }, { data: vc, at: 0, ld: nb }, count, nb, len, cb);
}

/** Vectors of length `len`, rows r0..r1−1 of `ct`, each replaced by the blocks' product (the first
 *  block's reflectors first) times it: the last block applied first. */
export interface ReflectJob { blocks: ReflectorBlock[]; ct: Float64Array; len: number; r0: number; r1: number }

export function applyBlocks({ blocks, ct, len, r0, r1 }: ReflectJob): void {
  for (let b = blocks.length - 1; b >= 0; b--) applyBlock(blocks[b], { data: ct, at: r0 * len, ld: len }, r1 - r0, false);
}
