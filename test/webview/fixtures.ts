// The panel fixtures (see fixtures/make_fixtures.py and fixtures/report.json's `source`).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../helpers/paths';

export const FIXTURES = join(ROOT, 'test', 'webview', 'fixtures');
export const fixture = (name: string): unknown => JSON.parse(readFileSync(join(FIXTURES, name), 'utf8'));
