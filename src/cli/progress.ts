/**
 * A progress bar on stderr for runs longer than about a second, on a terminal only (never with
 * --json or when stderr is not a TTY). cli-progress draws it.
 */
import cliProgress from 'cli-progress';

/** Runs shorter than this never show a bar. */
const SHOW_AFTER_MS = 1000;

export class Progress {
  private bar: cliProgress.SingleBar | null = null;
  private readonly start: number;

  constructor(
    private readonly enabled: boolean,
    private readonly label: string,
    private readonly stream: NodeJS.WritableStream = process.stderr,
    private readonly now: () => number = Date.now,
  ) {
    this.start = now();
  }

  update(done: number, total: number): void {
    if (!this.enabled) return;
    if (this.bar === null) {
      if (this.now() - this.start < SHOW_AFTER_MS) return;
      this.bar = new cliProgress.SingleBar(
        {
          format: `${this.label} [{bar}] {value}/{total} {eta_formatted} left`,
          stream: this.stream,
          hideCursor: true,
          clearOnComplete: true,
        },
        cliProgress.Presets.shades_classic,
      );
      this.bar.start(total, done);
      return;
    }
    this.bar.setTotal(total);
    this.bar.update(done);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = null;
  }
}
