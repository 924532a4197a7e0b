// A Hugging Face checkpoint folder: config.json plus model.safetensors, or shards listed in
// model.safetensors.index.json. Headers are read at open; tensor bytes only when asked for.
import { readFile, readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { CheckpointError } from './errors';
import { SafetensorsFile, type TensorEntry } from './safetensors';

export type { TensorEntry };

export interface Checkpoint {
  readonly dir: string;
  readonly config: Record<string, unknown>;
  readonly tensors: ReadonlyMap<string, TensorEntry>;
  readonly sharded: boolean;
  readonly files: string[];
  read(name: string): Promise<Float32Array>;
  /** read() into out (the tensor's element count), without a copy of the file's bytes where it can. */
  readInto(name: string, out: Float32Array): Promise<void>;
  /** Rows `rows` (ascending, distinct) of a 2-D tensor as float32, without reading it whole. */
  readRows(name: string, rows: ArrayLike<number>): Promise<Float32Array>;
  readRaw(name: string): Promise<Uint8Array>;
  readRawChunks(name: string, chunkBytes: number): AsyncIterable<Uint8Array>;
  has(name: string): boolean;
  close(): Promise<void>;
}

export const INDEX_FILE = 'model.safetensors.index.json';
export const SINGLE_FILE = 'model.safetensors';

async function readJson(path: string, what: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new CheckpointError(`${path}: cannot read ${what} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new CheckpointError(`${path}: ${what} is not valid JSON (${(e as Error).message})`);
  }
}

async function shardList(dir: string): Promise<{ files: string[]; weightMap?: Map<string, string> }> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch (e) {
    throw new CheckpointError(`${dir}: cannot open checkpoint folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  if (names.includes(INDEX_FILE)) {
    const index = await readJson(join(dir, INDEX_FILE), 'the shard index');
    const map = (index as { weight_map?: unknown })?.weight_map;
    if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new CheckpointError(`${join(dir, INDEX_FILE)}: weight_map must be an object of tensor → shard file`);
    const weightMap = new Map<string, string>();
    for (const [t, f] of Object.entries(map)) {
      if (typeof f !== 'string' || f !== basename(f) || !f.endsWith('.safetensors')) {
        throw new CheckpointError(`${join(dir, INDEX_FILE)}: tensor "${t}" maps to "${String(f)}", not a .safetensors file in the folder`);
      }
      weightMap.set(t, f);
    }
    const files = [...new Set(weightMap.values())];
    const missing = files.filter((f) => !names.includes(f));
    if (missing.length) throw new CheckpointError(`${dir}: shard${missing.length > 1 ? 's' : ''} ${missing.join(', ')} listed in ${INDEX_FILE} missing`);
    return { files, weightMap };
  }
  if (names.includes(SINGLE_FILE)) return { files: [SINGLE_FILE] };
  const any = names.filter((n) => n.endsWith('.safetensors')).sort();
  if (any.length === 1) return { files: any };
  if (any.length > 1) throw new CheckpointError(`${dir}: ${any.length} .safetensors files but no ${INDEX_FILE}`);
  throw new CheckpointError(`${dir}: no .safetensors file (is this a Hugging Face checkpoint folder?)`);
}

export async function openCheckpoint(dirIn: string): Promise<Checkpoint> {
  const dir = resolve(dirIn);
  const { files, weightMap } = await shardList(dir);
  const configPath = join(dir, 'config.json');
  if (!(await stat(configPath).then((st) => st.isFile(), () => false))) {
    throw new CheckpointError(`${dir}: no config.json (is this a Hugging Face checkpoint folder?)`);
  }
  const config = await readJson(configPath, 'config.json');
  if (typeof config !== 'object' || config === null || Array.isArray(config)) throw new CheckpointError(`${join(dir, 'config.json')}: must be a JSON object`);
  const opened: SafetensorsFile[] = [];
  try {
    for (const f of files) opened.push(await SafetensorsFile.open(join(dir, f)));
  } catch (e) {
    await Promise.all(opened.map((s) => s.close()));
    throw e;
  }
  const tensors = new Map<string, TensorEntry>();
  const owner = new Map<string, SafetensorsFile>();
  for (const sf of opened) {
    for (const [name, entry] of sf.entries) {
      if (tensors.has(name)) throw new CheckpointError(`${dir}: tensor "${name}" is in ${basename(tensors.get(name)!.file)} and ${basename(sf.path)}`);
      const mapped = weightMap?.get(name);
      if (weightMap && mapped !== basename(sf.path)) {
        throw new CheckpointError(`${dir}: tensor "${name}" is in ${basename(sf.path)} but ${INDEX_FILE} ${mapped ? `maps it to ${mapped}` : 'does not list it'}`);
      }
      tensors.set(name, entry);
      owner.set(name, sf);
    }
  }
  if (weightMap) {
    const absent = [...weightMap.keys()].filter((t) => !tensors.has(t));
    if (absent.length) throw new CheckpointError(`${dir}: ${INDEX_FILE} lists ${absent.length} tensor(s) their shard does not contain, e.g. "${absent[0]}"`);
  }
  const file = (name: string) => {
    const sf = owner.get(name);
    if (!sf) throw new CheckpointError(`${dir}: no tensor "${name}"`);
    return sf;
  };
  return {
    dir, config: config as Record<string, unknown>, tensors, sharded: !!weightMap, files: files.map((f) => join(dir, f)),
    read: async (name) => file(name).read(name),
    readInto: async (name, out) => file(name).readInto(name, out),
    readRows: async (name, rows) => file(name).readRows(name, rows),
    readRaw: async (name) => file(name).readRaw(name),
    readRawChunks: (name, chunkBytes) => file(name).readRawChunks(name, chunkBytes),
    has: (name) => tensors.has(name),
    close: async () => { await Promise.all(opened.map((s) => s.close())); },
  };
}
