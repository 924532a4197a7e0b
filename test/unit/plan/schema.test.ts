// The plan JSON Schema is what users see as hover, completion and validation: every field must
// explain itself and offer a default or a snippet, and each method block must list exactly the
// settings its method accepts, with the defaults the code uses.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { validatePlan, METHODS } from '../../../sidecar/plan/plan';
import { svdLlmSettings } from '../../../sidecar/methods/svdllm';
import { DEFAULT_COMPRESSION, graspSettings } from '../../../sidecar/methods/grasp';
import { socoSettings } from '../../../sidecar/methods/soco-train';
import { ROOT } from '../../helpers/paths';

interface Prop {
  description?: string; default?: unknown; defaultSnippets?: unknown[]; enum?: unknown[]; enumDescriptions?: string[];
  properties?: Record<string, Prop>; items?: Prop; oneOf?: Prop[]; type?: string | string[];
}
const schema = JSON.parse(readFileSync(join(ROOT, 'schemas', 'plan.schema.json'), 'utf8')) as Prop;

test('every field has a description, a default or snippet, and enums their descriptions', () => {
  const missing: string[] = [];
  const walk = (props: Record<string, Prop>, path: string) => {
    for (const [k, p] of Object.entries(props)) {
      const at = `${path}${k}`;
      if (!p.description) missing.push(`${at}: description`);
      if (p.default === undefined && !p.defaultSnippets?.length) missing.push(`${at}: default or defaultSnippets`);
      if (p.enum && p.enumDescriptions?.length !== p.enum.length) missing.push(`${at}: enumDescriptions`);
      for (const alt of [p, ...(p.oneOf ?? [])]) {
        if (alt.properties) walk(alt.properties, `${at}.`);
        if (alt.items?.properties) walk(alt.items.properties, `${at}[].`);
      }
    }
  };
  walk(schema.properties!, '');
  assert.deepEqual(missing, []);
  assert.ok(schema.defaultSnippets?.length, 'an empty plan file offers a whole plan');
  assert.deepEqual(schema.properties!.method.enum, [...METHODS]);
});

test('method blocks list exactly the settings the methods accept, with the same defaults', () => {
  const plan = (method: string, block: Record<string, unknown>) =>
    validatePlan({ model: '/m', output: '/o', method, ratio: 0.2, [method]: block }, '/');
  const readers: Record<string, (block: Record<string, unknown>) => object> = {
    'svd-llm': (b) => svdLlmSettings({ plan: plan('svd-llm', b) }),
    // compression stays unset so that threshold can stand in for it; DEFAULT_COMPRESSION applies then.
    grasp: (b) => {
      const g = graspSettings({ plan: plan('grasp', b) });
      return { ...g, compression: g.compression ?? DEFAULT_COMPRESSION };
    },
    soco: (b) => socoSettings(plan('soco', b)),
  };
  for (const [method, read] of Object.entries(readers)) {
    const props = schema.properties![method].properties!;
    // The engine names the fields it knows when it meets one it does not.
    assert.throws(() => read({ notASetting: 1 }), (e: Error) => {
      const known = /known: ([^)]*)/.exec(e.message)![1].split(', ').sort();
      assert.deepEqual(known, Object.keys(props).sort(), method);
      return true;
    });
    const defaults = read({}) as Record<string, unknown>;
    for (const [k, p] of Object.entries(props)) {
      if (p.default !== undefined) assert.deepEqual(defaults[k], p.default, `${method}.${k}`);
    }
  }
});
