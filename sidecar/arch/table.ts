// Architectures are data: one entry per family names the embedding, the decoder layers, the
// projections and the norms. Adding a model_type that shares a block adds a name to a list.

export type Family = 'llama' | 'gpt2';

/**
 * Which activation feeds a projection. Projections that share an input share its calibration
 * statistics (one Gram matrix for q/k/v, one for gate/up).
 */
export type InputSite = 'attn_in' | 'attn_ctx' | 'mlp_in' | 'mlp_act';

export interface ProjectionSpec {
  /** Key relative to the layer prefix, without `.weight`, e.g. `self_attn.q_proj`. */
  key: string;
  group: 'attention' | 'mlp';
  input: InputSite;
  /** GPT-2's Conv1D stores W as [in, out]; everything else stores [out, in]. */
  transposed: boolean;
}

export interface ArchSpec {
  family: Family;
  modelTypes: string[];
  /** Candidate prefixes of the whole model (GPT-2 checkpoints come with and without `transformer.`). */
  prefixes: string[];
  embed: string;
  positions?: string;
  layers: string;
  finalNorm: string;
  lmHead: string;
  projections: ProjectionSpec[];
  /** Norm weights (and biases) relative to the layer prefix. */
  norms: string[];
  /** config.json keys, first present wins. */
  keys: { layers: string[]; hidden: string[]; heads: string[]; kvHeads: string[]; intermediate: string[]; eps: string[]; context: string[] };
}

const LLAMA_KEYS = {
  layers: ['num_hidden_layers'], hidden: ['hidden_size'], heads: ['num_attention_heads'],
  kvHeads: ['num_key_value_heads', 'num_attention_heads'], intermediate: ['intermediate_size'],
  eps: ['rms_norm_eps'], context: ['max_position_embeddings'],
};

export const ARCHITECTURES: ArchSpec[] = [
  {
    family: 'llama',
    modelTypes: ['llama', 'mistral', 'qwen2'],
    prefixes: [''],
    embed: 'model.embed_tokens',
    layers: 'model.layers',
    finalNorm: 'model.norm',
    lmHead: 'lm_head',
    projections: [
      { key: 'self_attn.q_proj', group: 'attention', input: 'attn_in', transposed: false },
      { key: 'self_attn.k_proj', group: 'attention', input: 'attn_in', transposed: false },
      { key: 'self_attn.v_proj', group: 'attention', input: 'attn_in', transposed: false },
      { key: 'self_attn.o_proj', group: 'attention', input: 'attn_ctx', transposed: false },
      { key: 'mlp.gate_proj', group: 'mlp', input: 'mlp_in', transposed: false },
      { key: 'mlp.up_proj', group: 'mlp', input: 'mlp_in', transposed: false },
      { key: 'mlp.down_proj', group: 'mlp', input: 'mlp_act', transposed: false },
    ],
    norms: ['input_layernorm', 'post_attention_layernorm'],
    keys: LLAMA_KEYS,
  },
  {
    family: 'gpt2',
    modelTypes: ['gpt2'],
    prefixes: ['', 'transformer.'],
    embed: 'wte',
    positions: 'wpe',
    layers: 'h',
    finalNorm: 'ln_f',
    lmHead: 'lm_head',
    projections: [
      { key: 'attn.c_attn', group: 'attention', input: 'attn_in', transposed: true },
      { key: 'attn.c_proj', group: 'attention', input: 'attn_ctx', transposed: true },
      { key: 'mlp.c_fc', group: 'mlp', input: 'mlp_in', transposed: true },
      { key: 'mlp.c_proj', group: 'mlp', input: 'mlp_act', transposed: true },
    ],
    norms: ['ln_1', 'ln_2'],
    keys: {
      layers: ['n_layer', 'num_hidden_layers'], hidden: ['n_embd', 'hidden_size'], heads: ['n_head', 'num_attention_heads'],
      kvHeads: ['n_head', 'num_attention_heads'], intermediate: ['n_inner'], eps: ['layer_norm_epsilon'], context: ['n_positions', 'n_ctx'],
    },
  },
];

export class ArchError extends Error {}

export function archFor(modelType: unknown): ArchSpec {
  const spec = ARCHITECTURES.find((a) => a.modelTypes.includes(String(modelType)));
  if (!spec) {
    const known = ARCHITECTURES.flatMap((a) => a.modelTypes).join(', ');
    throw new ArchError(`config.json: model_type "${String(modelType)}" is not supported (known: ${known})`);
  }
  return spec;
}

/** Dimensions read from config.json, with the family's defaults. */
export interface Dims {
  layers: number; hidden: number; heads: number; kvHeads: number; headDim: number;
  intermediate: number; eps: number; context: number; vocab: number;
}

export function readDims(spec: ArchSpec, config: Record<string, unknown>): Dims {
  const pick = (names: string[], field: string, fallback?: number): number => {
    for (const n of names) {
      const v = config[n];
      if (typeof v === 'number' && Number.isFinite(v)) return v;
    }
    if (fallback !== undefined) return fallback;
    throw new ArchError(`config.json: missing numeric field ${names[0]} (${field})`);
  };
  const hidden = pick(spec.keys.hidden, 'hidden size');
  const heads = pick(spec.keys.heads, 'attention heads');
  const kvHeads = pick(spec.keys.kvHeads, 'key/value heads', heads);
  const eps = pick(spec.keys.eps, 'norm epsilon', 1e-5);
  const dims: Dims = {
    layers: pick(spec.keys.layers, 'layer count'), hidden, heads, kvHeads,
    headDim: typeof config.head_dim === 'number' ? config.head_dim : hidden / heads,
    intermediate: pick(spec.keys.intermediate, 'intermediate size', 4 * hidden), eps,
    context: pick(spec.keys.context, 'context length', 2048), vocab: pick(['vocab_size'], 'vocabulary size'),
  };
  for (const [k, v] of Object.entries(dims)) {
    if (!(v > 0)) throw new ArchError(`config.json: ${k} must be positive, got ${v}`);
  }
  if (!Number.isInteger(dims.headDim)) throw new ArchError(`config.json: hidden size ${hidden} is not divisible by ${heads} heads`);
  if (heads % kvHeads !== 0) throw new ArchError(`config.json: ${heads} attention heads are not a multiple of ${kvHeads} key/value heads`);
  return dims;
}

/** Names resolved against a checkpoint's tensors: the prefix it actually uses and tied heads. */
export interface ResolvedArch {
  spec: ArchSpec;
  config: Record<string, unknown>;
  dims: Dims;
  prefix: string;
  tied: boolean;
  layer(i: number): string;
  /** Full names (without `.weight`) of the decoder projections of layer i. */
  projections(i: number): { name: string; spec: ProjectionSpec }[];
  embed: string;
  positions?: string;
  finalNorm: string;
  lmHead: string;
}

export function resolveArch(config: Record<string, unknown>, tensorNames: Iterable<string>): ResolvedArch {
  const spec = archFor(config.model_type);
  const dims = readDims(spec, config);
  const names = new Set(tensorNames);
  const prefix = spec.prefixes.find((p) => names.has(`${p}${spec.embed}.weight`));
  if (prefix === undefined) {
    throw new ArchError(`checkpoint has no embedding tensor ${spec.prefixes.map((p) => `${p}${spec.embed}.weight`).join(' or ')}`);
  }
  const layer = (i: number) => `${prefix}${spec.layers}.${i}.`;
  const lmHead = names.has(`${spec.lmHead}.weight`) ? spec.lmHead : `${prefix}${spec.lmHead}`;
  return {
    spec, config, dims, prefix, layer,
    tied: !names.has(`${lmHead}.weight`),
    projections: (i) => spec.projections.map((p) => ({ name: `${layer(i)}${p.key}`, spec: p })),
    embed: `${prefix}${spec.embed}`,
    positions: spec.positions ? `${prefix}${spec.positions}` : undefined,
    finalNorm: `${prefix}${spec.finalNorm}`,
    lmHead,
  };
}
