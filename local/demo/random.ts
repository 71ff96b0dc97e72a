/**
 * The demo's randomness, behind one small interface so a test can seed it and get the same
 * traffic every run. Math.random is the default; `seededRandom` is a 32-bit xorshift generator,
 * plenty for picking routes and durations (nothing here is security-sensitive).
 */
export type Random = () => number;

export function seededRandom(seed: number): Random {
  // Marsaglia's xorshift32 (13, 17, 5); the state must never be zero.
  let state = seed >>> 0 || 0x9e3779b9;
  return () => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state / 4294967296;
  };
}

export function chance(random: Random, probability: number): boolean {
  return random() < probability;
}

export function between(random: Random, min: number, max: number): number {
  return min + (max - min) * random();
}

export function pick<T>(random: Random, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new RangeError('pick from an empty list');
  return item;
}

/**
 * A log-normal duration around `medianMs`: most values near the median, a long right tail,
 * the usual shape of request latencies.
 */
export function latencyMs(random: Random, medianMs: number, spread = 0.5): number {
  // Box–Muller; 1 - random() keeps the logarithm's argument in (0, 1].
  const gaussian = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
  return medianMs * Math.exp(spread * gaussian);
}

export function hexId(random: Random, chars: number): string {
  let out = '';
  for (let i = 0; i < chars; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}
