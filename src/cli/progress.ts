import type { Progress } from '../types.js';

interface Stream { isTTY?: boolean; columns?: number; write(s: string): boolean }

/**
 * One-line progress on a TTY (stage, bar, iteration, loss, ETA), redrawn at most every 100 ms.
 * Silent when the stream is not a TTY (pipes, CI logs) or when disabled.
 */
export class ProgressBar {
  private readonly active: boolean;
  private stage = '';
  private stageStart = 0;
  private last = 0;
  private drawn = false;

  constructor(private readonly stream: Stream, enabled = true) {
    this.active = enabled && stream.isTTY === true;
  }

  update(p: Progress): void {
    if (!this.active) return;
    const now = performance.now();
    if (p.stage !== this.stage) { this.stage = p.stage; this.stageStart = now; }
    if (now - this.last < 100 && p.fraction !== 1) return;
    this.last = now;
    this.stream.write('\r\x1b[2K' + formatProgress(p, now - this.stageStart, this.stream.columns || 80));
    this.drawn = true;
  }

  /** Clears the line. */
  done(): void {
    if (this.active && this.drawn) this.stream.write('\r\x1b[2K');
    this.drawn = false;
  }

  /** A line of its own (a warning), above the bar: the bar is redrawn by the next update. */
  note(line: string): void {
    this.done();
    this.stream.write(line + '\n');
  }
}

/** The text of one progress line, e.g. `ivf   [#####.....]  12/50  loss 1.234e+3  ETA 4s`. */
export function formatProgress(p: Progress, elapsedMs: number, columns = 80): string {
  const frac = p.fraction ?? (p.iteration !== undefined && p.maxIters ? Math.min(1, p.iteration / p.maxIters) : undefined);
  const parts = [p.stage.padEnd(6)];
  if (frac !== undefined) {
    const w = 20;
    const filled = Math.round(frac * w);
    parts.push(`[${'#'.repeat(filled)}${'.'.repeat(w - filled)}] ${(frac * 100).toFixed(0).padStart(3)}%`);
  }
  if (p.iteration !== undefined) parts.push(`iter ${p.iteration}${p.maxIters ? `/${p.maxIters}` : ''}`);
  if (p.loss !== undefined && Number.isFinite(p.loss)) parts.push(`loss ${p.loss.toPrecision(5)}`);
  if (frac !== undefined && frac > 0 && frac < 1) parts.push(`ETA ${formatSeconds((elapsedMs * (1 - frac)) / frac / 1000)}`);
  return parts.join('  ').slice(0, Math.max(20, columns - 1));
}

function formatSeconds(s: number): string {
  if (s < 60) return `${s.toFixed(0)}s`;
  const m = Math.floor(s / 60);
  return m < 60 ? `${m}m${String(Math.round(s % 60)).padStart(2, '0')}s` : `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
