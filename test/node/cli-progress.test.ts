import { describe, expect, it } from 'vitest';
import { ProgressBar, formatProgress } from '../../src/cli/progress.js';

function sink(isTTY: boolean) {
  const writes: string[] = [];
  return { stream: { isTTY, columns: 100, write: (s: string) => (writes.push(s), true) }, writes };
}

describe('CLI progress', () => {
  it('formats stage, bar, iteration, loss and an ETA from the elapsed time', () => {
    const line = formatProgress({ stage: 'ivf', iteration: 10, maxIters: 50, loss: 1234.5678 }, 2000);
    expect(line).toContain('ivf');
    expect(line).toContain('[####................]  20%');
    expect(line).toContain('iter 10/50');
    expect(line).toContain('loss 1234.6');
    expect(line).toContain('ETA 8s'); // 2 s for 20 % → 8 s left
    expect(formatProgress({ stage: 'sample', fraction: 0.5 }, 90_000)).toContain('ETA 1m30s');
    expect(formatProgress({ stage: 'sq' }, 0)).not.toContain('ETA');
  });

  it('draws on a TTY and stays silent otherwise', () => {
    const tty = sink(true);
    const bar = new ProgressBar(tty.stream);
    bar.update({ stage: 'sample', fraction: 0.1 });
    bar.update({ stage: 'sample', fraction: 1 });
    bar.done();
    expect(tty.writes.length).toBeGreaterThanOrEqual(2);
    expect(tty.writes[0]).toMatch(/^\r\x1b\[2Ksample/);
    expect(tty.writes.at(-1)).toBe('\r\x1b[2K');
    const pipe = sink(false);
    const quiet = new ProgressBar(pipe.stream);
    quiet.update({ stage: 'ivf', iteration: 1, maxIters: 5 });
    quiet.done();
    expect(pipe.writes).toEqual([]);
    const off = sink(true);
    new ProgressBar(off.stream, false).update({ stage: 'ivf', iteration: 1 });
    expect(off.writes).toEqual([]);
  });

  it('a note (a warning) clears a drawn bar and takes a line of its own; without a TTY it is still written', () => {
    const tty = sink(true);
    const bar = new ProgressBar(tty.stream);
    bar.update({ stage: 'ivf', iteration: 1, maxIters: 5 });
    bar.note('ivfkit: a warning');
    expect(tty.writes.slice(-2)).toEqual(['\r\x1b[2K', 'ivfkit: a warning\n']);
    bar.note('again');
    expect(tty.writes.at(-1)).toBe('again\n');
    expect(tty.writes.at(-2)).not.toBe('\r\x1b[2K');
    const pipe = sink(false);
    new ProgressBar(pipe.stream).note('ivfkit: a warning');
    expect(pipe.writes).toEqual(['ivfkit: a warning\n']);
  });
});
