// Slice, Unpack and SplitV for the wasm backend without copying their input out of the heap.
// tfjs-wasm's Slice starts with readSync(x), a copy of the WHOLE input into a new JavaScript
// buffer, and Unpack and SplitV call it once per output: unstacking 8 windows copies the tensor 8
// times. The attention splits q, k and v that way (27 unstacks a layer), and a profile of one layer
// of the reference model (8 windows × 256 tokens) gave Unpack 15.6 of 86 ms. A slice that is one
// contiguous run of the input (any slice along the first axis, so every unstack and split there)
// is here one copyWithin inside the heap; other slices, and strings, go to tfjs's own kernels.
import * as tf from '@tensorflow/tfjs-core';
import { slice_util, util, type KernelConfig, type KernelFunc, type TensorInfo } from '@tensorflow/tfjs-core';
import type { BackendWasm } from '@tensorflow/tfjs-backend-wasm';
import { heapBytes } from './host-data';

interface SliceArgs { inputs: { x: TensorInfo }; attrs: { begin: number | number[]; size: number | number[] }; backend: BackendWasm }

/** Registers the three kernels for tfjs's `wasm` backend, in place of its own (kept as fallbacks). */
export function registerWasmSlices(): void {
  const own = (name: string) => tf.getKernel(name, 'wasm')?.kernelFunc as KernelFunc | undefined;
  const ownSlice = own('Slice');
  const ownUnpack = own('Unpack');
  const ownSplit = own('SplitV');
  if (!ownSlice || !ownUnpack || !ownSplit) throw new Error('tfjs-wasm has no Slice/Unpack/SplitV kernel to replace');

  /** x[begin : begin + size] when it is one contiguous run, else undefined. */
  const contiguous = (x: TensorInfo, beginAt: number[], size: number[], backend: BackendWasm): TensorInfo | undefined => {
    if (x.dtype === 'string' || !slice_util.isSliceContinous(x.shape, beginAt, size)) return undefined;
    const out = backend.makeOutput(size, x.dtype);
    const bytes = util.bytesPerElement(x.dtype);
    const from = backend.getMemoryOffset(x.dataId) + slice_util.computeFlatOffset(beginAt, util.computeStrides(x.shape)) * bytes;
    // The heap view is taken after makeOutput: growing the heap replaces its buffer.
    heapBytes(backend).copyWithin(backend.getMemoryOffset(out.dataId), from, from + util.sizeFromShape(size) * bytes);
    return out;
  };

  /** Rows start..start+count of x along the first axis, which are always one contiguous run. */
  const rows = (x: TensorInfo, start: number, count: number, backend: BackendWasm): TensorInfo =>
    contiguous(x, [start, ...x.shape.slice(1).map(() => 0)], [count, ...x.shape.slice(1)], backend)!;

  const slice = (args: SliceArgs): TensorInfo => {
    const [beginAt, size] = slice_util.parseSliceParams(args.inputs.x as tf.Tensor, args.attrs.begin, args.attrs.size);
    return contiguous(args.inputs.x, beginAt, size, args.backend) ?? (ownSlice(args as never) as TensorInfo);
  };

  const unpack = (args: { inputs: { value: TensorInfo }; attrs: { axis: number }; backend: BackendWasm }): TensorInfo[] => {
    const { value } = args.inputs;
    const axis = args.attrs.axis < 0 ? args.attrs.axis + value.shape.length : args.attrs.axis;
    if (axis !== 0 || value.dtype === 'string') return ownUnpack(args as never) as TensorInfo[];
    return Array.from({ length: value.shape[0] }, (_, i) => ({ ...rows(value, i, 1, args.backend), shape: value.shape.slice(1) }));
  };

  const splitV = (args: { inputs: { x: TensorInfo }; attrs: { numOrSizeSplits: number | number[]; axis: number | number[] }; backend: BackendWasm }): TensorInfo[] => {
    const { x } = args.inputs;
    const axis = util.parseAxisParam(args.attrs.axis, x.shape)[0];
    if (axis !== 0 || x.dtype === 'string') return ownSplit(args as never) as TensorInfo[];
    let at = 0;
    return tf.backend_util.prepareSplitSize(x as tf.Tensor, args.attrs.numOrSizeSplits, axis).map((count) => {
      const out = rows(x, at, count, args.backend);
      at += count;
      return out;
    });
  };

  const configs: KernelConfig[] = [
    { kernelName: 'Slice', backendName: 'wasm', kernelFunc: slice as unknown as KernelFunc },
    { kernelName: 'Unpack', backendName: 'wasm', kernelFunc: unpack as unknown as KernelFunc },
    { kernelName: 'SplitV', backendName: 'wasm', kernelFunc: splitV as unknown as KernelFunc },
  ];
  for (const c of configs) {
    tf.unregisterKernel(c.kernelName, 'wasm');
    tf.registerKernel(c);
  }
}
