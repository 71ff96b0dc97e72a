/**
 * A mergeable quantile sketch with a relative-error guarantee (the DDSketch idea: logarithmic
 * buckets). A positive value x goes to bucket i = ceil(log_g(x)) with g = (1 + a) / (1 - a); the
 * bucket's representative 2 g^i / (g + 1) is within a relative error `a` of every value in it.
 * Two sketches merge by adding bucket counts, so per-shard and per-slice partials combine exactly
 * as if one sketch had seen every value: the latency percentile of a rule window is the same
 * whichever way its slices were split. Memory is one counter per occupied bucket: with a = 1 %,
 * values from 1 ms to 100 s occupy at most ~580 buckets.
 *
 * Quantile q of n values is the value of rank min(floor(q * n), n - 1) in sorted order (0-based),
 * ClickHouse's `quantileExact` definition; the answer is within `a` relative of that order
 * statistic. (The scheduled path's `quantileTDigest` interpolates between centroids instead, so
 * where the data has a gap at the quantile the two can differ by more: docs/alerting.md.)
 */

export const DEFAULT_RELATIVE_ACCURACY = 0.01;

/** The serialisable form: bucket index -> count, and the count of zeros (durations of 0). */
export interface SketchData {
  readonly b: Record<string, number>;
  readonly z: number;
}

export class QuantileSketch {
  readonly #gamma: number;
  readonly #logGamma: number;
  readonly #buckets = new Map<number, number>();
  #zeros = 0;
  #count = 0;

  constructor(readonly relativeAccuracy = DEFAULT_RELATIVE_ACCURACY) {
    if (!(relativeAccuracy > 0 && relativeAccuracy < 1)) {
      throw new RangeError(`relativeAccuracy must be in (0, 1), got: ${relativeAccuracy}`);
    }
    this.#gamma = (1 + relativeAccuracy) / (1 - relativeAccuracy);
    this.#logGamma = Math.log(this.#gamma);
  }

  get count(): number {
    return this.#count;
  }

  /** Adds a non-negative value; negative and non-finite values are ignored. */
  add(value: number, times = 1): void {
    if (!Number.isFinite(value) || value < 0 || times <= 0) return;
    this.#count += times;
    if (value === 0) {
      this.#zeros += times;
      return;
    }
    const i = Math.ceil(Math.log(value) / this.#logGamma);
    this.#buckets.set(i, (this.#buckets.get(i) ?? 0) + times);
  }

  merge(data: SketchData): void {
    this.#zeros += data.z;
    this.#count += data.z;
    for (const [k, n] of Object.entries(data.b)) {
      const i = Number(k);
      this.#buckets.set(i, (this.#buckets.get(i) ?? 0) + n);
      this.#count += n;
    }
  }

  /** The q-quantile (0 <= q <= 1), or undefined when empty. */
  quantile(q: number): number | undefined {
    if (this.#count === 0) return undefined;
    const rank = Math.min(this.#count - 1, Math.floor(Math.min(1, Math.max(0, q)) * this.#count));
    if (rank < this.#zeros) return 0;
    let seen = this.#zeros;
    const indexes = [...this.#buckets.keys()].sort((a, b) => a - b);
    for (const i of indexes) {
      seen += this.#buckets.get(i) ?? 0;
      if (seen > rank) return (2 * this.#gamma ** i) / (this.#gamma + 1);
    }
    const last = indexes[indexes.length - 1] ?? 0;
    return (2 * this.#gamma ** last) / (this.#gamma + 1);
  }

  toJSON(): SketchData {
    return { b: Object.fromEntries(this.#buckets), z: this.#zeros };
  }

  static from(data: SketchData, relativeAccuracy = DEFAULT_RELATIVE_ACCURACY): QuantileSketch {
    const s = new QuantileSketch(relativeAccuracy);
    s.merge(data);
    return s;
  }
}
