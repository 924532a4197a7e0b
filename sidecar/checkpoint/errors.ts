/** A checkpoint that cannot be read as what it claims to be; the message names the file and the fault. */
export class CheckpointError extends Error {
  override name = 'CheckpointError';
}
