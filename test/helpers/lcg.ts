// The linear-algebra tests' random matrices: a linear congruential generator (glibc's constants),
// the same numbers on every run and platform, so that a failure reproduces.

/** n numbers uniform in [lo, lo + width), from seed. */
export function uniform(n: number, seed: number, lo = -0.5, width = 1): Float64Array {
  let s = seed;
  return Float64Array.from({ length: n }, () => lo + width * ((s = (s * 1103515245 + 12345) % 2147483648) / 2147483648));
}
