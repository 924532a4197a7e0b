// A small argv parser: positionals, `--flag`, `--key value` and `--key=value`.
export interface Args { positionals: string[]; flags: Map<string, string | true> }

export class UsageError extends Error {}

export function parseArgs(argv: string[], valued: string[]): Args {
  const positionals: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) {
      positionals.push(a);
      continue;
    }
    const eq = a.indexOf('=');
    const key = a.slice(2, eq < 0 ? undefined : eq);
    if (eq >= 0) flags.set(key, a.slice(eq + 1));
    else if (valued.includes(key)) {
      if (i + 1 >= argv.length) throw new UsageError(`--${key} needs a value`);
      flags.set(key, argv[++i]);
    } else flags.set(key, true);
  }
  return { positionals, flags };
}

export function flagString(args: Args, key: string): string | undefined {
  const v = args.flags.get(key);
  if (v === true) throw new UsageError(`--${key} needs a value`);
  return v;
}

export function flagInt(args: Args, key: string): number | undefined {
  const v = flagString(args, key);
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`--${key} must be a positive integer, got "${v}"`);
  return n;
}
