// The one signature every method module has (DESIGN.md "Methods"): given the model, the plan and
// the statistics it asked for, it says what to keep. The pipeline in compress/ does the rest.
import type { Checkpoint } from '../checkpoint/checkpoint';
import type { ResolvedArch } from '../arch/table';
import type { Job } from '../compress/job';
import type { Plan } from '../plan/plan';
import type { RankDecision } from '../plan/ranks';

/** A projection replaced by W ≈ u v, in [out, in] math layout (also for GPT-2's Conv1D). */
export interface Factorization {
  name: string;
  shape: [number, number];
  rank: number;
  u: Float32Array; // [out, rank]
  v: Float32Array; // [rank, in]
  /** Fraction of Σσ² kept (of the matrix the method decomposed: W, W·S, ...). */
  keptEnergy: number;
  /** Indices of the kept singular directions, descending σ order; not contiguous for GRASP/SoCo. */
  kept: number[];
}

export interface MethodContext {
  plan: Plan;
  ckpt: Checkpoint;
  arch: ResolvedArch;
  /** Per projection name: the rank to keep, or undefined to keep it dense. */
  ranks: Map<string, RankDecision>;
  job: Job;
}

export interface CompressionMethod {
  /** Statistics or layer selection before any layer is written (calibration passes). */
  prepare?(ctx: MethodContext): Promise<void>;
  /** Original indices of the layers to drop from the output. */
  removedLayers?(ctx: MethodContext): Promise<number[]>;
  /** Factors for layer i's targeted projections; called for kept layers in increasing order. */
  layer(ctx: MethodContext, i: number): Promise<Factorization[]>;
  /**
   * Resume (compress/resume.ts): called instead of layer(ctx, i) with the factors an earlier run of
   * the same plan stored for layer i, in the same order layer() would have been, so the method can
   * bring whatever later layers depend on to where layer() would have left it. A method without
   * it does not resume: its prepare() computes every layer at once (layer removal, GRASP, SoCo).
   */
  restore?(ctx: MethodContext, i: number, factors: Factorization[]): Promise<void>;
  /** Releases what prepare() held. */
  dispose?(): void;
}
