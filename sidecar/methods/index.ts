// Method registry: plan.method → module.
import type { Method } from '../plan/plan';
import { svdMethod } from './svd';
import type { CompressionMethod } from './types';

const REGISTRY: Partial<Record<Method, () => CompressionMethod>> = {
  svd: () => svdMethod,
};

export function methodFor(name: Method): CompressionMethod | undefined {
  return REGISTRY[name]?.();
}
