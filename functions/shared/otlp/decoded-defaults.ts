import type { ExponentialBuckets, InstrumentationScope, MaybeInvalid, Resource, Span } from './model.js';

/**
 * What both OTLP decoders (protobuf/, json/) give a message the request leaves out, and how they
 * mark the items of an invalid envelope: one definition, so the two decoders agree.
 */

export type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export const EMPTY_RESOURCE: Resource = { attributes: [], droppedAttributesCount: 0 };
export const EMPTY_SCOPE: InstrumentationScope = {
  name: '',
  version: '',
  attributes: [],
  droppedAttributesCount: 0,
};
export const NO_STATUS: Span['status'] = { code: 0, message: '' };
export const NO_BUCKETS: ExponentialBuckets = { offset: 0, bucketCounts: [] };

/** Marks every item of an envelope with its first problem (items already invalid keep theirs). */
export function markAll(items: readonly MaybeInvalid[], reason: string): void {
  for (const item of items) item.invalid ??= reason;
}
