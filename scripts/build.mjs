// Bundles the extension, the sidecar, the CLI and the webviews with esbuild.
// `--tests` also bundles every test/**/*.test.ts (and bench/*.ts) to out/, one file each,
// so that one broken module does not stop unrelated tests from running.
import { build } from 'esbuild';
import { readdirSync, readFileSync, statSync, existsSync, chmodSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Buffer } from 'node:buffer';
import wabt from 'wabt';

const root = new URL('..', import.meta.url).pathname;
const args = new Set(process.argv.slice(2));
// tfjs stays in node_modules: the wasm backend loads its .wasm files from there and the
// native backends are optional packages that may be absent.
const external = ['vscode', '@tensorflow/*', 'playwright-core', 'mocha', 'chromium-bidi*'];
// jsonc-parser's UMD entry requires its parts dynamically, which a bundle cannot follow: use its ESM build.
const alias = { 'jsonc-parser': './node_modules/jsonc-parser/lib/esm/main.js' };
// The product, matrix-vector and Gram kernels and the layer's (attention, RMSNorm), WebAssembly
// text assembled here and embedded as base64 (sidecar/linalg/*-kernel.ts, sidecar/model/), each as
// { plain, fused } (sidecar/linalg/wasm-kernel.ts KernelBinary).
const assembler = await wabt();
const binary = (path, wat, features) => Buffer.from(assembler.parseWat(path, wat, features).toBinary({}).buffer).toString('base64');
// The product kernels' fused binary: each tile's multiply-then-add, `(T.add (local.get $c)
// (T.mul (local.get $x) (local.get $y)))`, becomes one relaxed_madd (relaxed SIMD), which V8
// compiles to an FMA instruction where the CPU has one: half the tiles' arithmetic instructions.
const TILE_MADD = /\((f32x4|f64x2)\.add \(local\.get (\$\w+)\) \(\1\.mul (\(local\.get \$\w+\)) (\(local\.get \$\w+\))\)\)/g;
const assemble = (path, { fused = false } = {}) => {
  const file = join(root, 'sidecar', `${path}.wat`);
  const wat = readFileSync(file, 'utf8');
  const out = { plain: binary(file, wat, { simd: true, threads: true }) };
  if (fused) {
    const madds = wat.match(TILE_MADD)?.length ?? 0;
    if (!madds) throw new Error(`${path}.wat: no tile multiply-add to fuse`);
    out.fused = binary(file, wat.replace(TILE_MADD, '($1.relaxed_madd $3 $4 (local.get $2))'), { simd: true, threads: true, relaxed_simd: true });
  }
  return JSON.stringify(out);
};
const kernelDefine = {
  GEMM_KERNEL_WASM: assemble('linalg/gemm-kernel', { fused: true }), GEMV_KERNEL_WASM: assemble('linalg/gemv-kernel'),
  GRAM_KERNEL_WASM: assemble('linalg/gram-kernel', { fused: true }),
  ATTENTION_KERNEL_WASM: assemble('model/attention-kernel', { fused: true }), RMSNORM_KERNEL_WASM: assemble('model/rmsnorm-kernel'),
  LSE_KERNEL_WASM: assemble('model/lse-kernel'), LINEAR_KERNEL_WASM: assemble('model/linear-kernel', { fused: true }),
};
const base = { bundle: true, platform: 'node', target: 'node20', format: 'cjs', external, alias, logLevel: 'warning', define: kernelDefine };
// The linear-algebra pool's worker program, embedded in every node bundle as source text (sidecar/linalg/pool.ts).
const worker = await build({ ...base, entryPoints: [join(root, 'sidecar/linalg/pool-worker.ts')], write: false, minify: true });
const node = { ...base, sourcemap: 'linked', define: { ...kernelDefine, POOL_WORKER_SOURCE: JSON.stringify(worker.outputFiles[0].text) } };

function walk(dir, pred, acc = []) {
  if (!existsSync(dir)) return acc;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (name === 'node_modules') continue;
    if (statSync(p).isDirectory()) walk(p, pred, acc);
    else if (pred(p)) acc.push(p);
  }
  return acc;
}

const jobs = [];
const entry = (src, out, extra = {}) => existsSync(join(root, src))
  && jobs.push(build({ ...node, entryPoints: [join(root, src)], outfile: join(root, out), ...extra }));

entry('sidecar/main.ts', 'dist/sidecar.js');
entry('sidecar/cli.ts', 'dist/cli.js', { banner: { js: '#!/usr/bin/env node' } });
entry('extension/extension.ts', 'dist/extension.js');
for (const f of walk(join(root, 'webview'), (p) => /panel\.ts$/.test(p))) {
  jobs.push(build({ bundle: true, platform: 'browser', target: 'es2022', format: 'iife', sourcemap: 'linked',
    entryPoints: [f], outfile: join(root, 'dist/webview', relative(join(root, 'webview'), f).replace(/\.ts$/, '.js')), logLevel: 'warning' }));
}
if (args.has('--tests')) {
  const files = [
    ...walk(join(root, 'test'), (p) => /\.test\.ts$/.test(p) || /test\/integration\/.*\.ts$/.test(p) || /test\/fixtures\/.*\.ts$/.test(p)),
    ...walk(join(root, 'bench'), (p) => /\.ts$/.test(p)),
  ];
  for (const f of files) {
    jobs.push(build({ ...node, entryPoints: [f], outfile: join(root, 'out', relative(root, f).replace(/\.ts$/, '.js')) }));
  }
}
await Promise.all(jobs);
if (existsSync(join(root, 'dist/cli.js'))) chmodSync(join(root, 'dist/cli.js'), 0o755);
