// Calibration and evaluation text: a file, or a folder of .txt files read in name order.
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { RankwiseError } from '../errors';
import { ErrorCodes } from '../rpc/protocol';

export async function readText(path: string): Promise<string> {
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new RankwiseError(ErrorCodes.NotFound, `${path}: text file or folder not found`);
  if (info.isFile()) return readFile(path, 'utf8');
  const files = (await readdir(path)).filter((f) => f.endsWith('.txt')).sort();
  if (!files.length) throw new RankwiseError(ErrorCodes.NotFound, `${path}: folder has no .txt files`);
  return (await Promise.all(files.map((f) => readFile(join(path, f), 'utf8')))).join('\n\n');
}

/** mulberry32, for reproducible sampling from a plan's seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * `samples` windows of `seqLen` consecutive tokens at uniformly random starts, as the SVD-LLM and
 * GPTQ loaders sample WikiText-2 (random i in [0, len − seqLen)). Returns samples × seqLen ids.
 */
export function sampleWindows(ids: Int32Array, samples: number, seqLen: number, seed: number): Int32Array {
  if (ids.length <= seqLen) throw new RankwiseError(ErrorCodes.InvalidPlan, `calibration text has ${ids.length} tokens, fewer than one window of ${seqLen}`);
  const rand = seededRandom(seed);
  const out = new Int32Array(samples * seqLen);
  for (let s = 0; s < samples; s++) {
    const start = Math.floor(rand() * (ids.length - seqLen));
    out.set(ids.subarray(start, start + seqLen), s * seqLen);
  }
  return out;
}

/** Consecutive non-overlapping windows of exactly L tokens; the incomplete tail is dropped (METHODS.md). */
export function evaluationWindows(ids: Int32Array, seqLen: number): { windows: number; ids: Int32Array } {
  const windows = Math.floor(ids.length / seqLen);
  return { windows, ids: ids.subarray(0, windows * seqLen) };
}

/** The papers' calibration default (SVD-LLM, GRASP: 256 samples × 2048 tokens). */
export const CALIBRATION_DEFAULT = { samples: 256, seqLen: 2048 };
/** Hidden states of the calibration set held at once (float32) unless the caller says otherwise. */
export const CALIBRATION_ACTIVATION_BYTES = 2 * 1024 ** 3;

/**
 * samples × seqLen for calibration: the requested (or default) shape, seqLen clipped to the model's
 * context and to the text (a window needs a random start), samples clipped so the hidden states
 * (samples × seqLen × hidden × 4 bytes) fit the activation budget.
 */
export function calibrationShape(o: { context: number; hidden: number; tokens: number; samples?: number; seqLen?: number; activationBytes?: number }): { samples: number; seqLen: number } {
  const seqLen = Math.max(1, Math.min(o.seqLen ?? CALIBRATION_DEFAULT.seqLen, o.context, o.tokens - 1));
  const fit = Math.floor((o.activationBytes ?? CALIBRATION_ACTIVATION_BYTES) / (seqLen * o.hidden * 4));
  return { samples: Math.max(1, Math.min(o.samples ?? CALIBRATION_DEFAULT.samples, fit)), seqLen };
}
