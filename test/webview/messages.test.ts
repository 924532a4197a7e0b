import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parsePanelMessage, parseRedundancyData, parseReportData, parseSpectrumData, parseUpdate, type ReportData, type SpectrumData } from '../../webview/messages';
import type { Report } from '../../sidecar/compress/report';
import type { SpectrumResult } from '../../sidecar/rpc/protocol';
import { fixture } from './fixtures';

const redundancy = fixture('redundancy.json');
const svd = fixture('spectrum-svd.json');
const grasp = fixture('spectrum-grasp.json');
const report = fixture('report.json');

// Compile-time: the sidecar's shapes are valid panel data as they are (tsc fails otherwise).
const fromReport = (r: Report): ReportData => r;
const fromSpectrum = (s: SpectrumResult): SpectrumData => s;

test('the committed fixtures parse', () => {
  assert.deepEqual(parseRedundancyData(redundancy)?.removed, [2, 4]);
  assert.equal(parseSpectrumData(svd)?.kept?.length, 102);
  assert.equal(parseSpectrumData(grasp)?.kept?.length, 55);
  assert.equal(parseReportData(fromReport(report as Report))?.phases.length, 4);
  const result: SpectrumResult = { name: 'model.layers.0.mlp.up_proj', shape: [688, 256], values: [3, 2, 1], seconds: 0.1, backend: 'wasm' };
  assert.deepEqual(parseSpectrumData(fromSpectrum(result)), { name: result.name, shape: result.shape, values: result.values });
});

test('malformed data is refused', () => {
  const r = redundancy as { layers: object[]; removed: number[] };
  assert.equal(parseRedundancyData({ ...r, removed: [8] }), undefined, 'removed index out of range');
  assert.equal(parseRedundancyData({ ...r, removed: [2, 2] }), undefined, 'duplicate index');
  assert.equal(parseRedundancyData({ ...r, layers: [...r.layers].reverse() }), undefined, 'indices out of order');
  assert.equal(parseRedundancyData({ ...r, layers: [{ index: 0, blockInfluence: NaN, cosine: 1 }], removed: [] }), undefined, 'NaN');
  const s = svd as { values: number[]; shape: number[] };
  assert.equal(parseSpectrumData({ ...s, values: [...s.values].reverse() }), undefined, 'ascending values');
  assert.equal(parseSpectrumData({ ...s, values: [...s.values, 0] }), undefined, 'more values than min(shape)');
  assert.equal(parseSpectrumData({ ...s, kept: [256] }), undefined, 'kept index out of range');
  assert.equal(parseSpectrumData({ ...s, name: '<script>' }), undefined, 'not a tensor name');
  assert.equal(parseSpectrumData({ ...s, shape: [256] }), undefined, 'shape');
  const p = report as { evaluation: object; matrices: object[] };
  assert.equal(parseReportData({ ...p, parametersAfter: -1 }), undefined, 'negative count');
  assert.equal(parseReportData({ ...p, evaluation: { ...p.evaluation, perplexityAfter: 'high' } }), undefined, 'perplexity type');
  assert.equal(parseReportData({ ...p, matrices: [{ name: 'a', shape: [2, 2], rank: 1, keptEnergy: 1.5 }] }), undefined, 'energy > 1');
  assert.equal(parseUpdate('report', { type: 'update', data: redundancy }), undefined, 'data of another panel');
});

test('panel messages are range-checked against what the host sent', () => {
  const r = parseRedundancyData(redundancy)!;
  assert.deepEqual(parsePanelMessage('redundancy', { type: 'revealLayer', index: 7 }, r), { type: 'revealLayer', index: 7 });
  assert.equal(parsePanelMessage('redundancy', { type: 'revealLayer', index: 8 }, r), undefined);
  assert.equal(parsePanelMessage('redundancy', { type: 'revealLayer', index: 1.5 }, r), undefined);
  assert.equal(parsePanelMessage('redundancy', { type: 'revealLayer', index: 1, extra: true }, r), undefined);
  assert.equal(parsePanelMessage('redundancy', { type: 'revealLayer', index: 0 }, undefined), undefined, 'no data yet');
  const s: SpectrumData = { ...parseSpectrumData(svd)!, choices: ['model.layers.3.self_attn.q_proj', 'model.layers.2.mlp.down_proj'] };
  assert.deepEqual(parsePanelMessage('spectrum', { type: 'select', name: 'model.layers.2.mlp.down_proj' }, s), { type: 'select', name: 'model.layers.2.mlp.down_proj' });
  assert.equal(parsePanelMessage('spectrum', { type: 'select', name: 'model.layers.5.mlp.down_proj' }, s), undefined);
  assert.equal(parsePanelMessage('spectrum', { type: 'revealLayer', index: 0 }, s), undefined, 'another panel\'s message');
  assert.deepEqual(parsePanelMessage('report', { type: 'ready' }, undefined), { type: 'ready' });
  assert.equal(parsePanelMessage('report', { type: 'openOutput' }, undefined), undefined, 'nothing to open yet');
  for (const junk of [null, 'ready', 42, [], { type: 7 }, { type: 'ready', x: 1 }]) assert.equal(parsePanelMessage('report', junk, undefined), undefined);
});
