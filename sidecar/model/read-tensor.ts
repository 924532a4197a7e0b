// A checkpoint tensor read straight into a float32 tensor's memory (tensor/host-data.ts
// filledTensor, Checkpoint.readInto): on the threaded wasm backend an F32 tensor's file bytes land
// in tfjs's heap with no host copy. A layer's host copies (the file's bytes and their decoding, 22
// MiB a layer at width 512) used to wait for the main thread's collector: six MLP weights' worth
// were resident at bench/scaling's peak.
import type * as tf from '@tensorflow/tfjs-core';
import type { Checkpoint } from '../checkpoint/checkpoint';
import { CheckpointError } from '../checkpoint/errors';
import { filledTensor } from '../tensor/host-data';

/** Tensor `name` of ckpt as float32, in the checkpoint's shape. */
export async function readTensor<R extends tf.Rank = tf.Rank>(ckpt: Checkpoint, name: string): Promise<tf.Tensor<R>> {
  const e = ckpt.tensors.get(name);
  if (!e) throw new CheckpointError(`${ckpt.dir}: no tensor "${name}"`);
  return (await filledTensor(e.shape, (dst) => ckpt.readInto(name, dst))) as tf.Tensor<R>;
}
