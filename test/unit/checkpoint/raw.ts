// Byte-level safetensors building blocks for reader tests: any header text, any length field, any data.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** 8-byte little-endian length (overridable, to lie about it), the header bytes, then the data bytes. */
export function rawFile(header: string | Uint8Array | object, data: Uint8Array = new Uint8Array(0), lengthField?: bigint): Buffer {
  const h = header instanceof Uint8Array ? Buffer.from(header) : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(lengthField ?? BigInt(h.length));
  return Buffer.concat([len, h, data]);
}

/** A fresh temporary folder, removed after the test that asked for it. */
export function tempDir(t: { after(fn: () => void): void }, tag = 'ckpt'): string {
  const dir = mkdtempSync(join(tmpdir(), `rankwise-${tag}-`));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
