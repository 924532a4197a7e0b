import { test } from 'node:test';
import assert from 'node:assert/strict';
import { contentSecurityPolicy, makeNonce, panelHtml } from '../../extension/panels/html';

const opts = { cspSource: 'https://file+.vscode-resource.vscode-cdn.net', nonce: makeNonce(), scriptUri: 'https://x/dist/webview/spectrum/panel.js', styleUri: 'https://x/dist/webview/spectrum/panel.css', title: 'Spectrum' };

test('the CSP allows scripts only by nonce and styles only from the webview origin', () => {
  const html = panelHtml(opts);
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]+)">/.exec(html)?.[1];
  assert.ok(csp, 'no CSP meta');
  const directives = Object.fromEntries(csp.split('; ').map((d) => [d.split(' ')[0], d.split(' ').slice(1).join(' ')]));
  assert.equal(directives['default-src'], "'none'");
  assert.equal(directives['script-src'], `'nonce-${opts.nonce}'`);
  assert.equal(directives['style-src'], opts.cspSource);
  assert.doesNotMatch(csp, /unsafe-(inline|eval)/);
  assert.equal(csp, contentSecurityPolicy(opts.cspSource, opts.nonce));
});

test('the one script is external and carries the nonce; no inline script or handler', () => {
  const html = panelHtml(opts);
  const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
  assert.equal(scripts.length, 1);
  assert.match(scripts[0][1], new RegExp(`nonce="${opts.nonce.replace(/[+/]/g, '\\$&')}"`));
  assert.match(scripts[0][1], /src="https:\/\/x\/dist\/webview\/spectrum\/panel\.js"/);
  assert.equal(scripts[0][2].trim(), '');
  assert.doesNotMatch(html, /\son[a-z]+=/i);
  assert.doesNotMatch(html, /<style/);
  assert.match(html, /<link rel="stylesheet" href="https:\/\/x\/dist\/webview\/spectrum\/panel\.css">/);
});

test('nonces are fresh and at least 128 bits; a weak nonce is refused', () => {
  const a = makeNonce();
  assert.notEqual(a, makeNonce());
  assert.ok(Buffer.from(a, 'base64').length >= 16);
  assert.throws(() => panelHtml({ ...opts, nonce: 'abc' }), /nonce/);
});

test('the title and URIs are escaped', () => {
  const html = panelHtml({ ...opts, title: '<img src=x onerror=alert(1)>', scriptUri: 'a"b' });
  assert.doesNotMatch(html, /<img/);
  assert.match(html, /src="a&#34;b"/);
});
