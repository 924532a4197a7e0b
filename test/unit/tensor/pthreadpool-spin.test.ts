// The threaded build's spin counts (sidecar/tensor/pthreadpool-spin.ts): the installed tfjs build's
// three sites patched to SPIN_LOADS, nothing else changed, and any other binary left alone. The
// patched build computing products is wasm-threads.test.ts's child.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SPIN_LOADS, withShortSpins } from '../../../sidecar/tensor/pthreadpool-spin';

const BUILD = join(dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json')), 'wasm-out', 'tfjs-backend-wasm-threaded-simd.wasm');

/** The signed LEB128 at b[i..] and its length. */
function leb(b: Uint8Array, i: number): { value: number; length: number } {
  let value = 0;
  let k = 0;
  for (; ; k++) {
    value |= (b[i + k] & 0x7f) << (7 * k);
    if (!(b[i + k] & 0x80)) break;
  }
  const bits = 7 * (k + 1);
  return { value: bits < 32 && b[i + k] & 0x40 ? value - 2 ** bits : value, length: k + 1 };
}

test('withShortSpins: the installed build\'s three spin counts become SPIN_LOADS, every other byte kept', () => {
  const original = new Uint8Array(readFileSync(BUILD));
  const patched = withShortSpins(original);
  assert.ok(patched, 'the installed tfjs build no longer has the three spin sites: check pthreadpool-spin.ts against it');
  assert.ok(WebAssembly.validate(patched));
  assert.equal(patched.length, original.length);
  const changed = [...patched.keys()].filter((i) => patched[i] !== original[i]);
  assert.equal(changed.length, 9, `changed bytes at ${changed.join(', ')}`);
  // Three runs of three bytes, each the operand of an i32.const (0x41) that now reads SPIN_LOADS.
  for (let s = 0; s < 3; s++) {
    const at = changed[3 * s];
    assert.deepEqual(changed.slice(3 * s, 3 * s + 3), [at, at + 1, at + 2]);
    assert.equal(patched[at - 1], 0x41);
    assert.deepEqual(leb(original, at), { value: 1_000_000, length: 3 });
    assert.deepEqual(leb(patched, at), { value: SPIN_LOADS, length: 3 });
  }
  assert.equal(SPIN_LOADS % 5, 0);
});

test('withShortSpins: a binary without exactly those sites, or not WebAssembly, is left alone', () => {
  const original = new Uint8Array(readFileSync(BUILD));
  const [first] = [...original.keys()].filter((i) => original[i] === 0x41 && original[i + 1] === 0xc0 && original[i + 2] === 0x84 && original[i + 3] === 0x3d && original[i + 4] === 0x21);
  const two = Uint8Array.from(original);
  two[first + 3] = 0x3c; // one site's count is another number: two sites left
  assert.equal(withShortSpins(two), undefined);
  const single = readFileSync(join(dirname(BUILD), 'tfjs-backend-wasm-simd.wasm'));
  assert.equal(withShortSpins(new Uint8Array(single)), undefined, 'the single-threaded build has no spin sites');
  assert.equal(withShortSpins(new TextEncoder().encode('not a module')), undefined);
});
