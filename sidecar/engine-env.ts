// The environment of a process that runs the engine: glibc malloc with one arena
// (MALLOC_ARENA_MAX=1). The engine's large host buffers (float64 matrices, Gram read-backs, the
// copies a pool job takes) are made on one thread and freed on another, and by default glibc gives
// each thread an arena of its own that keeps what is freed in it. Measured on bench/scaling's
// generated checkpoints at width 512: peak 472 MiB above start at 4 layers and 574 at 16 with the
// default, 448 and 438 with one arena (flat in depth); bench/compress's peak 391–402 → 335–336 MiB
// at the same time (10.2–10.3 s → 10.2–10.8 s). glibc reads the setting only when a process
// starts, so whoever starts the engine passes it: the extension's sidecar client, and the CLI,
// which runs itself again once (cli/relaunch.ts). A value the user set is kept; other C libraries
// ignore the variable.

export const ARENA_VARIABLE = 'MALLOC_ARENA_MAX';

/** env with one malloc arena, unless env already sets the count. */
export function engineEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return env[ARENA_VARIABLE] !== undefined ? env : { ...env, [ARENA_VARIABLE]: '1' };
}

/** Whether this process was started without the engine's environment where it matters (Linux). */
export function lacksEngineEnv(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform): boolean {
  return platform === 'linux' && env[ARENA_VARIABLE] === undefined;
}
