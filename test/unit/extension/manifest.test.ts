// What package.json promises VS Code about trust: Rankwise runs a process that reads and writes
// checkpoints in the workspace, so it must not activate in an untrusted (Restricted Mode) workspace.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT } from '../../helpers/paths';

test('workspace trust is required and explained; virtual workspaces are not supported', () => {
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const trust = pkg.capabilities?.untrustedWorkspaces;
  assert.equal(trust?.supported, false);
  assert.match(trust.description, /sidecar process .* reads and writes model checkpoints/);
  assert.equal(pkg.capabilities.virtualWorkspaces, false, 'the sidecar needs files on disk');
});
