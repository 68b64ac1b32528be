/**
 * The demo's terminal view: one line per store, redrawn in place once a
 * second on a terminal, or printed as plain lines when output is not a TTY.
 */
import { relists, type StreamStats } from './stats.ts';

/** A store the view reports on: its stream counts and its current size. */
export interface Watched {
  stats: StreamStats;
  size: () => number;
}

/** Redraws a table of the watched stores every `intervalMs`, with footer lines below it. */
export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private lastEvents = new Map<string, number>();
  private lastAt = Date.now();
  private drawnLines = 0;

  constructor(
    private readonly title: string,
    private readonly watched: Watched[],
    private readonly footer: () => string = () => '',
    private readonly out: NodeJS.WriteStream = process.stdout,
  ) {}

  /** Starts redrawing. */
  start(intervalMs = 1000): void {
    this.draw();
    this.timer = setInterval(() => this.draw(), intervalMs);
  }

  /** Stops redrawing after a last frame. */
  stop(): void {
    clearInterval(this.timer);
    this.draw();
  }

  private draw(): void {
    const now = Date.now();
    const seconds = Math.max(0.001, (now - this.lastAt) / 1000);
    this.lastAt = now;
    const heapMb = (process.memoryUsage().heapUsed / 1024 / 1024).toFixed(1);
    const rows = this.watched.map(({ stats, size }) => {
      const rate = (stats.events - (this.lastEvents.get(stats.label) ?? 0)) / seconds;
      this.lastEvents.set(stats.label, stats.events);
      return `${stats.label.padEnd(26)} ${String(size()).padStart(7)} ${rate.toFixed(1).padStart(9)} ${String(relists(stats)).padStart(8)} ${String(stats.errors).padStart(7)}  ${(stats.lastError ?? '-').slice(0, 70)}`;
    });
    const lines = [
      `${this.title}   heap used ${heapMb} MiB`,
      `${'store'.padEnd(26)} ${'objects'.padStart(7)} ${'events/s'.padStart(9)} ${'relists'.padStart(8)} ${'errors'.padStart(7)}  last error`,
      ...rows,
      ...this.footer().split('\n'),
    ];
    if (this.out.isTTY) {
      if (this.drawnLines > 0) this.out.write(`\x1b[${this.drawnLines}A`);
      this.out.write(lines.map((l) => `\x1b[2K${l}\n`).join(''));
      this.drawnLines = lines.length;
    } else {
      this.out.write(`${lines.join('\n')}\n\n`);
    }
  }
}
