// SoCo's three stages as a state machine over the training steps (soco.ts has the sources):
// 1 coarse compression until the hard count reaches the budget (L_dec weight growing each step),
// 2 refinement with L_dec on only while the count is over budget, 3 sparsification.
export type Stage = 1 | 2 | 3;

export interface StageSteps {
  /** Most steps stage 1 may take; what it leaves when it reaches the budget early goes to stage 2. */
  coarse: number;
  refine: number;
  sparsify: number;
}

export class Schedule {
  private reached = false;
  /** L_dec's weight: grows by `growth` after every stage-1 step, then stays. */
  lambda: number;

  constructor(readonly steps: StageSteps, lambda0: number, private readonly growth: number) {
    this.lambda = lambda0;
  }

  get total(): number {
    return this.steps.coarse + this.steps.refine + this.steps.sparsify;
  }

  stageAt(t: number): Stage {
    if (t >= this.steps.coarse + this.steps.refine) return 3;
    return !this.reached && t < this.steps.coarse ? 1 : 2;
  }

  /** Whether L_dec applies at step t with the count over budget or not. */
  decOn(t: number, overBudget: boolean): boolean {
    return this.stageAt(t) < 3 && overBudget;
  }

  /** Records the count after step t's update. */
  after(t: number, overBudget: boolean): void {
    if (this.stageAt(t) !== 1) return;
    if (overBudget) this.lambda *= this.growth;
    else this.reached = true;
  }
}
