// A full disk and a read-only output location, for real: the CLI runs inside a private mount
// namespace (unshare) on a size-limited or read-only tmpfs, so the failures come from the kernel,
// not from an injected fault, and the mount can neither leak nor outlive the test. Root in CI
// mounts directly; elsewhere a user namespace maps the user to root. Where neither is permitted
// the tests are skipped and say why.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { makeCheckpoint } from '../../fixtures/checkpoints';
import { CLI } from '../../helpers/paths';
import { tempDir } from '../../helpers/temp';

/**
 * Mounts a tmpfs with `options` on `mountPoint`, runs each plan with the CLI, and reports per plan
 * the exit status, stderr, and what the tmpfs holds afterwards.
 */
function onTmpfs(mountPoint: string, options: string, plans: string[]): { status: number; stderr: string; left: string[] }[] | string {
  const script = `
mount -t tmpfs -o "$1" tmpfs "$2" || exit 1
shift 2
for plan in "$@"; do
  "${process.execPath}" "${CLI}" compress "$plan" --backend wasm 2>"$plan.stderr"
  echo "$? $(ls -A "${mountPoint}" | tr '\\n' ' ')"
done`;
  const r = spawnSync('unshare', ['--map-root-user', '--mount', 'sh', '-c', script, 'sh', options, mountPoint, ...plans], { encoding: 'utf8' });
  if (r.error || r.status !== 0) return `cannot mount a tmpfs in a private namespace here (${r.error?.message ?? r.stderr.trim()})`;
  return r.stdout.trim().split('\n').map((line, k) => {
    const [status, ...left] = line.trim().split(' ');
    return { status: Number(status), stderr: readFileSync(`${plans[k]}.stderr`, 'utf8'), left };
  });
}

async function workspace(): Promise<{ root: string; disk: string; plan: (name: string, body: Record<string, unknown>) => string }> {
  const root = tempDir('disk');
  // 3 layers of ~150 kB in float32: any output is far larger than the 64 kB disk below.
  await makeCheckpoint(join(root, 'model'), { family: 'llama', layers: 3, hidden: 64, heads: 4, kvHeads: 2, intermediate: 128, vocab: 256 });
  writeFileSync(join(root, 'calib.txt'), 'the quick brown fox jumps over the lazy dog '.repeat(200));
  const disk = join(root, 'disk');
  mkdirSync(disk);
  const plan = (name: string, body: Record<string, unknown>) => {
    const path = join(root, `${name}.rankwise.json`);
    writeFileSync(path, JSON.stringify({ model: 'model', output: 'disk/out', ...body }));
    return path;
  };
  return { root, disk, plan };
}

test('disk full: the error names the path and the cause, and nothing partial is left', async (t) => {
  const { disk, plan } = await workspace();
  const runs = onTmpfs(disk, 'size=64k', [
    // Layer removal keeps nothing for resuming: the output's shard is the first write to fail.
    plan('removal', { method: 'layer-removal', removeLayers: [1] }),
    // Plain SVD stores each finished layer for resuming: that store's first layer is what fails.
    plan('svd', { method: 'svd', ratio: 0.2 }),
  ]);
  if (typeof runs === 'string') return t.skip(runs);
  const [removal, svd] = runs;
  assert.equal(removal.status, 1, removal.stderr);
  assert.match(removal.stderr.trim().split('\n').at(-1)!, new RegExp(`^rankwise: ${join(disk, 'out')}: cannot write shard 1 \\(ENOSPC: no space left on the device\\)$`));
  assert.deepEqual(removal.left, [], 'the temporary folder is gone');
  assert.equal(svd.status, 1, svd.stderr);
  assert.match(svd.stderr.trim().split('\n').at(-1)!, new RegExp(`^rankwise: ${join(disk, '.out.rankwise-resume')}: cannot write layer-00000\\.safetensors \\(ENOSPC: no space left on the device\\)$`));
  assert.deepEqual(svd.left, [], 'neither the temporary folder nor an empty resume store is left');
});

test('read-only output location: refused before any calibration, naming the folder and the cause', async (t) => {
  const { disk, plan } = await workspace();
  const runs = onTmpfs(disk, 'ro', [plan('ro', { method: 'svd-llm', ratio: 0.2, calibration: { data: 'calib.txt', samples: 2, seqLen: 16 } })]);
  if (typeof runs === 'string') return t.skip(runs);
  const [ro] = runs;
  assert.equal(ro.status, 1, ro.stderr);
  assert.match(ro.stderr.trim().split('\n').at(-1)!, new RegExp(`^rankwise: ${disk}: cannot write the output here \\(EROFS: read-only file system\\)$`));
  assert.doesNotMatch(ro.stderr, /\[(load|calibrate)\]/, 'no work was started');
  assert.deepEqual(ro.left, []);
});
