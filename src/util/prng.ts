/**
 * Seeded pseudo-random numbers. Everything karb generates from a seed
 * (data sets, initial weights, shuffles, load schedules, test traffic) draws from here so the same seed always
 * gives the same bytes.
 */

export interface Rng {
  /** Uniform in [0, 1). */
  next(): number;
  /** Uniform in [min, max). */
  uniform(min: number, max: number): number;
  /** Standard normal draw (Box–Muller). */
  normal(): number;
  /** Integer in [0, n). */
  int(n: number): number;
  /** true with probability p. */
  chance(p: number): boolean;
}

/** mulberry32: a tiny 32-bit generator, fast and good enough for synthetic data. */
export function mulberry32(seed: number): Rng {
  let state = seed >>> 0;
  let spareNormal: number | undefined;

  const next = (): number => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  return {
    next,
    uniform: (min, max) => min + (max - min) * next(),
    normal: () => {
      if (spareNormal !== undefined) {
        const value = spareNormal;
        spareNormal = undefined;
        return value;
      }
      // 1 - next() keeps the logarithm's argument in (0, 1].
      const radius = Math.sqrt(-2 * Math.log(1 - next()));
      const angle = 2 * Math.PI * next();
      spareNormal = radius * Math.sin(angle);
      return radius * Math.cos(angle);
    },
    int: (n) => Math.floor(next() * n),
    chance: (p) => next() < p,
  };
}

/** Fisher–Yates shuffle of `indices` in place. */
export function shuffleInPlace(indices: Uint32Array, rng: Rng): void {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = indices[i]!;
    indices[i] = indices[j]!;
    indices[j] = tmp;
  }
}
