/**
 * An interrupt line from a device to the interrupt controller: the device drives its level (PCI
 * INTx is level-triggered and shared, active while any enabled cause is pending); the kernel's
 * interrupt layer connects one sink that sees every change of level.
 * MODEL: no interrupt controller, no affinity or MSI routing; delivery policy is the kernel's.
 */
export type IrqSink = (asserted: boolean) => void;

export class IrqLine {
  private level = false;
  private sink: IrqSink | null = null;
  /** Times the line went from deasserted to asserted. */
  raised = 0;

  constructor(readonly name: string) {}

  get asserted(): boolean {
    return this.level;
  }

  /** Drives the line; the sink hears changes only. */
  set(asserted: boolean): void {
    if (asserted === this.level) return;
    this.level = asserted;
    if (asserted) this.raised++;
    this.sink?.(asserted);
  }

  /** Connects the controller side (null disconnects). */
  connect(sink: IrqSink | null): void {
    this.sink = sink;
  }
}
