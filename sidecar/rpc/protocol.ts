// The one protocol module both sides import: the extension (client) and the sidecar (server).
// It must stay free of `vscode` and of engine imports so that either side can load it cheaply.
import { NotificationType, RequestType, RequestType0 } from 'vscode-jsonrpc';

export const PROTOCOL_VERSION = 1;

/** JSON-RPC error codes the sidecar returns (data carries details where useful). */
export const ErrorCodes = {
  InvalidCheckpoint: -32001,
  InvalidPlan: -32002,
  OutputExists: -32003,
  NotFound: -32004,
  OutOfMemory: -32005,
  /** The output location refused a write: disk full, read-only, no permission; the message names the path and cause. */
  OutputNotWritable: -32006,
  /** LSP's RequestCancelled: vscode-jsonrpc maps `$/cancelRequest` to this code. */
  Cancelled: -32800,
  Internal: -32603,
} as const;

export type BackendChoice = 'auto' | 'node-gpu' | 'node' | 'wasm' | 'cpu';

export interface MatrixInfo {
  /** Full tensor name without `.weight`, e.g. `model.layers.0.self_attn.q_proj`. */
  name: string;
  /** Shape as the math sees it: [out, in] (GPT-2 Conv1D weights are reported transposed). */
  shape: [number, number];
  dtype: string;
  parameters: number;
  /** `attention` or `mlp` for decoder projections; `embedding`/`head` otherwise. */
  group: 'attention' | 'mlp' | 'embedding' | 'head';
  /** Present when the matrix is stored factorized (`.u.weight`/`.v.weight`). */
  rank?: number;
}

export interface TensorSummary { name: string; shape: number[]; dtype: string; parameters: number }

export interface LayerSummary {
  index: number;
  parameters: number;
  attention: MatrixInfo[];
  mlp: MatrixInfo[];
  /** Norms, biases and any other tensors of the layer. */
  other: TensorSummary[];
}

export interface ModelSummary {
  dir: string;
  modelType: string;
  layers: number;
  /** Longest sequence the model takes (max_position_embeddings / n_positions). */
  context: number;
  parameters: number;
  bytes: number;
  dtypes: string[];
  sharded: boolean;
  embedding: TensorSummary[];
  decoder: LayerSummary[];
  /** Final norm, lm_head and anything else outside the layers. */
  head: TensorSummary[];
  removedLayers: number[];
}

export interface OpenParams { dir: string }
export interface CalibrationParams { data: string; samples: number; seqLen: number; seed: number }
/** With calibration, the result adds the spectrum after SVD-LLM's whitening (W·S). */
export interface SpectrumParams { dir: string; name: string; calibration?: CalibrationParams; progressToken?: string }
export interface SpectrumResult {
  name: string; shape: [number, number]; values: number[]; seconds: number; backend: string;
  /** Singular values of W·S, S = chol(X Xᵀ) of the projection's calibration inputs. */
  whitened?: number[];
  /** Diagonal shift the Cholesky factorization needed (SVD-LLM's rule), when one was. */
  whitenedShift?: number;
}

export interface RedundancyParams { dir: string; calibration: CalibrationParams; progressToken?: string }
export interface LayerRedundancy { index: number; blockInfluence: number; cosine: number }
export interface RedundancyResult { dir: string; layers: LayerRedundancy[]; tokens: number; seconds: number; backend: string }

export interface CompressParams {
  /** Path of a `*.rankwise.json` plan file. */
  planPath?: string;
  /** Or a plan object; relative paths then resolve against `baseDir`. */
  plan?: unknown;
  baseDir?: string;
  progressToken?: string;
}

export interface CompressResult {
  output: string;
  parameters_before: number;
  parameters_after: number;
  bytes_before: number;
  bytes_after: number;
  seconds: number;
  backend: string;
  reportPath: string;
  report: unknown;
}

export interface ProgressParams {
  token: string;
  /** Phase name: `load`, `statistics`, `factorize`, `update`, `write`, `evaluate`, ... */
  phase: string;
  done: number;
  total: number;
  message?: string;
}

export interface LogParams { level: 'error' | 'warn' | 'info' | 'debug'; message: string }

export interface HelloResult { protocol: number; version: string; backend: string; pid: number }

export const Requests = {
  hello: new RequestType0<HelloResult, void>('hello'),
  open: new RequestType<OpenParams, ModelSummary, void>('model/open'),
  tree: new RequestType<OpenParams, ModelSummary, void>('model/tree'),
  spectrum: new RequestType<SpectrumParams, SpectrumResult, void>('matrix/spectrum'),
  redundancy: new RequestType<RedundancyParams, RedundancyResult, void>('model/redundancy'),
  compress: new RequestType<CompressParams, CompressResult, void>('compress/run'),
  shutdown: new RequestType0<void, void>('shutdown'),
} as const;

export const Notifications = {
  progress: new NotificationType<ProgressParams>('rankwise/progress'),
  log: new NotificationType<LogParams>('rankwise/log'),
} as const;
