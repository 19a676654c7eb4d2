/** Fast non-cryptographic 64-bit hashing of typed-array bits (for fingerprints, not security). */

/** Two independent 32-bit lanes over the bits of `words` (any typed array), seeded by `seed`. */
export class Hasher {
  private h1: number;
  private h2: number;
  constructor(seed = 0) {
    this.h1 = (0x811c9dc5 ^ seed) >>> 0;
    this.h2 = (0x9747b28c ^ Math.imul(seed, 0x85ebca6b)) >>> 0;
  }
  /** Mixes one 32-bit word. */
  word(w: number): this {
    W1[0] = w;
    return this.words(W1, 1);
  }
  /** Mixes a number (integers up to 2^53 exactly; others by their f64 bits). */
  num(v: number): this {
    F64[0] = v;
    return this.word(U32[0]!).word(U32[1]!);
  }
  /** Mixes every bit of a typed array (its length included). */
  bytes(view: ArrayBufferView): this {
    const b = view.byteOffset, len = view.byteLength;
    this.word(len);
    const whole = len >>> 2;
    const w32 = b % 4 === 0 ? new Int32Array(view.buffer, b, whole) : new Int32Array(new Uint8Array(view.buffer, b, whole * 4).slice().buffer);
    this.words(w32, whole);
    const tail = new Uint8Array(view.buffer, b + whole * 4, len - whole * 4);
    for (let i = 0; i < tail.length; i++) this.word(tail[i]! | 0x100);
    return this;
  }
  /** Mixes words[0..count) in order, on locals (~2× faster than a call per word). */
  private words(w32: Int32Array, count: number): this {
    let h1 = this.h1, h2 = this.h2;
    for (let i = 0; i < count; i++) {
      const w = w32[i]!;
      let a = Math.imul(w, 0xcc9e2d51);
      a = (a << 15) | (a >>> 17);
      a = Math.imul(a, 0x1b873593);
      h1 ^= a;
      h1 = Math.imul((h1 << 13) | (h1 >>> 19), 5) + 0xe6546b64 | 0;
      h2 = Math.imul(h2 ^ w, 0x01000193);
      h2 ^= h2 >>> 15;
    }
    this.h1 = h1;
    this.h2 = h2;
    return this;
  }
  /** 16 lower-case hex digits. */
  hex(): string {
    let a = this.h1 ^ (this.h1 >>> 16);
    a = Math.imul(a, 0x85ebca6b); a ^= a >>> 13; a = Math.imul(a, 0xc2b2ae35); a ^= a >>> 16;
    let c = this.h2 ^ (this.h2 >>> 16) ^ a;
    c = Math.imul(c, 0x85ebca6b); c ^= c >>> 13; c = Math.imul(c, 0xc2b2ae35); c ^= c >>> 16;
    return (a >>> 0).toString(16).padStart(8, '0') + (c >>> 0).toString(16).padStart(8, '0');
  }
}

const W1 = new Int32Array(1);
const F64 = new Float64Array(1);
const U32 = new Uint32Array(F64.buffer);
