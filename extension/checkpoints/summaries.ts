// Model summaries from the sidecar (`model/open`), shared by the Models tree and the plan editor
// and cached until the checkpoints change on disk.
import type { ModelSummary } from '../../sidecar/rpc/protocol';

export class SummaryCache {
  private readonly entries = new Map<string, Promise<ModelSummary>>();

  constructor(private readonly open: (dir: string) => Promise<ModelSummary>) {}

  get(dir: string): Promise<ModelSummary> {
    let p = this.entries.get(dir);
    if (!p) {
      const started = this.open(dir);
      // A failure is not cached: the folder may be complete on the next look.
      started.catch(() => {
        if (this.entries.get(dir) === started) this.entries.delete(dir);
      });
      this.entries.set(dir, started);
      p = started;
    }
    return p;
  }

  clear(): void {
    this.entries.clear();
  }
}
