// Method registry: plan.method → module.
import type { Method } from '../plan/plan';
import { svdMethod } from './svd';
import { AsvdMethod } from './asvd';
import { SvdLlmMethod } from './svdllm';
import { LayerRemovalMethod } from './layer-removal';
import { SocoMethod } from './soco';
import { GraspMethod } from './grasp';
import type { CompressionMethod } from './types';

const REGISTRY: Partial<Record<Method, () => CompressionMethod>> = {
  svd: () => svdMethod,
  asvd: () => new AsvdMethod(),
  'svd-llm': () => new SvdLlmMethod(),
  'layer-removal': () => new LayerRemovalMethod(),
  soco: () => new SocoMethod(),
  grasp: () => new GraspMethod(),
};

export function methodFor(name: Method): CompressionMethod | undefined {
  return REGISTRY[name]?.();
}
