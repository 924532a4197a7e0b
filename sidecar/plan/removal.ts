// Which layers a Block-Influence ranking removes (ShortGPT): plain arithmetic shared by the engine
// (layer removal, GRASP) and the extension (marking a plan's "auto" removals in the panel).

/** Layer indices by ascending Block Influence (ties: lower index first). */
export function byInfluence(bi: number[]): number[] {
  return bi.map((_, i) => i).sort((a, b) => bi[a] - bi[b] || a - b);
}

/** The fewest layers, in ascending-BI order, whose parameters reach ratio × the total. */
export function autoCount(order: number[], params: number[], ratio: number): number {
  const target = ratio * params.reduce((a, b) => a + b, 0);
  let removed = 0;
  for (let n = 0; n < order.length; n++) {
    if (removed >= target) return n;
    removed += params[order[n]];
  }
  return order.length;
}
