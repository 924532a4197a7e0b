// A method's own plan block (`"svd-llm": { ... }`): known keys only, each checked, defaults filled,
// errors naming the field as plan.ts does for the core keys.
import { PlanError } from '../errors';
import type { Plan } from '../plan/plan';

export interface SettingRule<V> { default: V; check: (v: unknown) => v is V; rule: string }

export type Rules<T> = { [K in keyof T]: SettingRule<T[K]> };

export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';
export const isPositiveInt = (v: unknown): v is number => Number.isInteger(v) && (v as number) > 0;
export const isPositive = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v) && v > 0;

export function readSettings<T>(plan: Plan, block: string, rules: Rules<T>): T {
  const raw = plan.options[block] ?? {};
  const out = {} as T;
  for (const k of Object.keys(raw)) {
    if (!(k in rules)) throw new PlanError(`plan: unknown field "${block}.${k}" (known: ${Object.keys(rules).join(', ')})`);
  }
  for (const k of Object.keys(rules) as (keyof T & string)[]) {
    const r = rules[k];
    const v = raw[k];
    if (v === undefined) out[k] = r.default;
    else if (r.check(v)) out[k] = v;
    else throw new PlanError(`plan: "${block}.${k}" must be ${r.rule}, got ${JSON.stringify(v)}`);
  }
  return out;
}
