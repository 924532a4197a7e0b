// Per-layer statistics of the projections' inputs, fed by layer hooks: one Gram matrix and/or one
// mean-|x| vector per input site (projections sharing an input share its statistics, arch/table.ts).
import type * as tf from '@tensorflow/tfjs-core';
import type { InputSite } from '../arch/table';
import { GramCollector, type Accumulation } from './gram';
import { MeanAbsCollector } from './mean-abs';

export interface InputStatsOptions {
  /** Collect X Xᵀ with this accumulation; false to skip. Default float64. */
  gram?: Accumulation | false;
  meanAbs?: boolean;
  /** Sites to collect (default all). */
  sites?: InputSite[];
}

export class InputStats {
  private readonly grams = new Map<InputSite, GramCollector>();
  private readonly means = new Map<InputSite, MeanAbsCollector>();

  constructor(private readonly o: InputStatsOptions = {}) {}

  /** Pass as LayerHooks.onInput or LayerwiseRun.step's onInput; collectors are sized by the first input. */
  readonly onInput = (site: InputSite, x: tf.Tensor2D): void => {
    if (this.o.sites && !this.o.sites.includes(site)) return;
    const dim = x.shape[1];
    const acc = this.o.gram ?? 'float64';
    if (acc) {
      let g = this.grams.get(site);
      if (!g) this.grams.set(site, (g = new GramCollector(dim, { accumulate: acc })));
      g.add(x);
    }
    if (this.o.meanAbs) {
      let m = this.means.get(site);
      if (!m) this.means.set(site, (m = new MeanAbsCollector(dim)));
      m.add(x);
    }
  };

  gram(site: InputSite): GramCollector | undefined {
    return this.grams.get(site);
  }

  meanAbs(site: InputSite): MeanAbsCollector | undefined {
    return this.means.get(site);
  }

  dispose(): void {
    for (const g of this.grams.values()) g.dispose();
    this.grams.clear();
    this.means.clear();
  }
}
