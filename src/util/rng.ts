/** A small seeded generator (sfc32). Same seed and streams → same sequence on every runtime. */
export interface Rng {
  /** Uniform 32-bit unsigned integer. */
  nextU32(): number;
  /** Uniform in [0, 1) with 32 bits of resolution. */
  next(): number;
  /** Uniform integer in [0, n) without modulo bias; n ≤ 2^32. */
  int(n: number): number;
}

/** Seed used when the caller gives none: training is always seeded. */
export const DEFAULT_SEED = 0x1f2e3d4c;

/** Stream tags: each use of randomness draws from its own stream. */
export const STREAM = {
  IVF_SAMPLE: 1,
  QUANT_SAMPLE: 2,
  INIT: 3,
  SPLIT: 4,
  REDO: 5,
  HIERARCHICAL: 6,
  EVAL: 7,
} as const;

/** Mixes words into one 32-bit value (murmur3 steps); order matters. A word from 2^32 up (a seed or id up to 2^53) mixes in its
 *  low and then its high 32 bits, so no two such words collide by folding; words below 2^32 take one step. */
export function mix32(...words: number[]): number {
  let h = 0x9e3779b9 ^ words.length;
  const step = (x: number): void => {
    let w = Math.imul(x, 0xcc9e2d51);
    w = (w << 15) | (w >>> 17);
    w = Math.imul(w, 0x1b873593);
    h ^= w;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
  };
  for (const w0 of words) {
    if (w0 >= 4294967296) {
      step(w0 >>> 0);
      step((Math.floor(w0 / 4294967296) ^ 0x5bd1e995) >>> 0);
    } else {
      step((w0 >>> 0) ^ Math.floor(w0 / 4294967296));
    }
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** A generator for (seed, ...stream): independent streams for independent purposes. */
export function createRng(seed: number, ...stream: number[]): Rng {
  let a = mix32(seed, 0x243f6a88, ...stream);
  let b = mix32(seed, 0x85a308d3, ...stream);
  let c = mix32(seed, 0x13198a2e, ...stream);
  let d = 1;
  const nextU32 = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return t >>> 0;
  };
  for (let i = 0; i < 12; i++) nextU32();
  return {
    nextU32,
    next: () => nextU32() / 4294967296,
    int(n: number): number {
      if (n <= 1) return 0;
      const limit = 4294967296 - (4294967296 % n);
      let x = nextU32();
      while (x >= limit) x = nextU32();
      return x % n;
    },
  };
}

/** `count` distinct integers from [0, n), uniform, sorted ascending (Floyd's algorithm). */
export function sampleDistinct(rng: Rng, n: number, count: number): Uint32Array {
  if (count > n) throw new RangeError(`cannot draw ${count} distinct values from ${n}`);
  const out = new Uint32Array(count);
  if (count === n) {
    for (let i = 0; i < n; i++) out[i] = i;
    return out;
  }
  const chosen = new Set<number>();
  for (let j = n - count; j < n; j++) {
    const t = rng.int(j + 1);
    chosen.add(chosen.has(t) ? j : t);
  }
  let i = 0;
  for (const v of chosen) out[i++] = v;
  return out.sort();
}
