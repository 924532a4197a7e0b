// Per-layer redundancy for the redundancy panel: Block Influence (1 − mean cos between a layer's
// input and output hidden states, ShortGPT) measured on the ORIGINAL model over calibration text,
// one layer resident at a time; the same numbers layer removal and GRASP rank layers by.
import { disposeLayer } from '../model/layer';
import { StreamingModel } from '../model/model';
import { BlockInfluence } from '../stats/block-influence';
import { calibrationIds, HiddenStates } from '../methods/calibration';
import type { Calibration } from '../plan/plan';
import type { Job } from '../compress/job';
import type { RedundancyResult } from '../rpc/protocol';

export async function layerRedundancy(dir: string, calibration: Calibration & { data: string }, job: Job, backend: string): Promise<RedundancyResult> {
  const t0 = performance.now();
  const model = await StreamingModel.open(dir);
  let states: HiddenStates | undefined;
  try {
    const ids = await calibrationIds(dir, calibration, model.arch.dims.context, job.signal);
    states = await HiddenStates.embed(model, ids, calibration.seqLen);
    const layers: RedundancyResult['layers'] = [];
    for (let i = 0; i < model.layerCount; i++) {
      job.progress('redundancy', i, model.layerCount, `layer ${i}`);
      const bi = new BlockInfluence();
      const w = await model.loadLayer(i);
      try {
        await states.run(model.arch, w, { onLayer: (a, b) => bi.add(a, b), signal: job.signal });
      } finally {
        disposeLayer(w);
      }
      layers.push({ index: i, blockInfluence: bi.value(), cosine: bi.meanCos() });
    }
    job.progress('redundancy', model.layerCount, model.layerCount);
    return { dir, layers, tokens: ids.length, seconds: (performance.now() - t0) / 1000, backend };
  } finally {
    states?.dispose();
    await model.close();
  }
}
