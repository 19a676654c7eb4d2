import { describe, expect, it } from 'vitest';
// @ts-expect-error: plain ES module without types (the bench's own entry, imported for its exported helpers)
import { summaryTable, targets } from '../../bench/run.mjs';

// The bench's verdicts on the targets, from a made-up report: medians decide, the fastest runs and the ratio
// round by round are reported beside them, and each extra Node (`--node`) gets its own tagged lines.
const row = (impl: string, label: string, threads: number, times: number[], extra: Record<string, unknown> = {}) => {
  const sorted = [...times].sort((a, b) => a - b);
  return { impl, label, threads, times, median: sorted[Math.floor(times.length / 2)], status: 'ok', result: {}, ...extra };
};

const report = {
  date: '2026-12-01T14:00:00.000Z', command: 'npm run bench -- --only A,E', machine: { cpu: 'test cpu', cores: 2, node: 'v20.20.2' },
  loadavgStart: [1, 1, 1],
  workloads: {
    A: {
      title: 'k-means n=65536, d=128, k=256, 20 iterations, shared init, no early stop',
      rows: [
        row('ivfkit', 'ivfkit (auto)', 1, [2.0, 2.4, 1.8], { objective: 100 }),
        row('ivfkit', 'ivfkit (auto)', 2, [1.3, 1.1, 1.2], { objective: 100 }),
        row('ivfkit', 'ivfkit (auto, Node 24.22.3)', 1, [3.3, 3.0, 3.6], { objective: 100, node: '24.22.3' }),
        row('ivfkit', 'ivfkit (auto, Node 24.22.3)', 2, [0.9, 1.0, 0.8], { objective: 100, node: '24.22.3' }),
        row('faiss', 'FAISS', 1, [2.0, 1.9, 2.1], { objective: 100.0001 }),
        row('sklearn', 'scikit-learn lloyd', 2, [1.0, 1.0, 1.0], { objective: 100 }),
        row('ml-kmeans', 'ml-kmeans 7.0.1 (pure JS)', 1, [50], { objective: 100.02 }),
      ],
    },
    B: {
      title: 'PQ training 16 sub-spaces × 8 bits',
      rows: [row('ivfkit', 'ivfkit (auto)', 1, [4]), row('faiss', 'FAISS', 1, [9])],
    },
    F: {
      title: 'Fashion-MNIST IVF256,PQ16 recall@10 at nprobe 16',
      rows: [row('ivfkit', 'ivfkit (auto)', 1, [18], { result: { recall: 0.56, peerRecall: 0.575 } }), row('faiss', 'FAISS IVF256,PQ16np', 1, [14])],
    },
  },
};

describe('bench targets', () => {
  const lines: string[] = targets(report);
  const line = (prefix: string) => lines.find((l) => l.startsWith(prefix)) ?? `(no line ${prefix})`;

  it('judges one thread against FAISS by medians, with the fastest runs and the ratio round by round', () => {
    expect(line('A: ivfkit 1 thread')).toBe('A: ivfkit 1 thread ≤ 1.5 × FAISS 1 thread: 1.00× → PASS (fastest runs: 1.80 s vs 1.90 s, 0.95×; ' +
      'round by round: median 1.00×, 0.86–1.26×)');
  });

  it('judges two threads against the best peer at any thread count', () => {
    expect(line('A: ivfkit 2 threads')).toBe("A: ivfkit 2 threads (1.200 s) faster than every peer's best (scikit-learn lloyd, 2 thr, 1.000 s) → MISS " +
      '(fastest runs: 1.10 s vs 1.00 s, 1.10×; round by round: median 1.20×, 1.10–1.30×)');
  });

  it('compares with ml-kmeans in time and objective, PQ against FAISS, and recall within a point', () => {
    expect(line('A: ≥ 20×')).toBe('A: ≥ 20× ml-kmeans: 25.0× → PASS; objective within 1e-4: 2.0e-4 → MISS');
    expect(line('B: PQ training')).toBe('B: PQ training ≥ 2× faster than FAISS (1 thr, FAISS): 2.25× → PASS');
    expect(line('F:')).toBe('F: recall within 1 point of the FAISS-trained model: 0.5600 vs 0.5750 (-1.50 points) → MISS');
  });

  it("tags each extra Node's lines with its version and judges them on its own rows", () => {
    expect(line('A (ivfkit on Node 24.22.3): ivfkit 1 thread')).toMatch(/: 1\.65× → MISS \(fastest runs: 3\.00 s vs 1\.90 s, 1\.58×; round by round: median 1\.65×/);
    expect(line('A (ivfkit on Node 24.22.3): ivfkit 2 threads')).toMatch(/\(0\.900 s\) faster than every peer's best .* → PASS/);
    expect(lines.filter((l) => l.startsWith('F'))).toHaveLength(1);
    expect(lines.filter((l) => l.includes('Node 24.22.3') && l.startsWith('B'))).toHaveLength(0);   // no B row under that Node
  });

  it('the summary table has a line per workload and one per extra Node', () => {
    const table: string = summaryTable(report);
    expect(table).toContain('| A: k-means n=65536, d=128, k=256, 20 iterations, shared init, no early stop | 2.00 | 1.20 | 2.00 | 1.00 scikit-learn lloyd (2) | 50.00 |');
    expect(table).toContain('| A, ivfkit on Node 24.22.3 | 3.30 | 0.90 | | | | |');
    expect(table).toContain('| F: Fashion-MNIST IVF256,PQ16 recall@10 at nprobe 16 | 18.00 |');
  });
});
