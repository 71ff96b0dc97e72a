import { createHash } from 'node:crypto';
// zod/mini keeps the ingest bundle small (docs/decisions/0001-envelope-and-stream.md).
import * as z from 'zod/mini';

/**
 * Redaction of sensitive values before any row leaves the ingest function (so neither the stream,
 * the hot tier nor the lake ever holds them). Two kinds of rule:
 * - drop keys: an attribute (or a key inside a kvlist value) whose whole key or last dot-segment
 *   equals one of `dropKeys`, case-insensitively, is left out (`http.request.header.cookie`
 *   matches `cookie`);
 * - patterns: every match of `regex` in a value is replaced by `[REDACTED:<name>]` or, for
 *   `action: 'hash'`, by `sha256:<first 16 hex of sha256(hashSalt + lowercased match)>` so equal
 *   values still group. `check: 'luhn'` keeps only matches whose digits pass the Luhn check;
 *   `prefilter` skips the regex on values that cannot match (the hot path: most values are short,
 *   have no '@' and no run of 13 digits).
 * Defaults and their reasons: docs/decisions/0002-sanitation-and-redaction.md.
 */

export const DEFAULT_DROP_KEYS: readonly string[] = [
  'password',
  'passwd',
  'secret',
  'client_secret',
  'api_key',
  'apikey',
  'x-api-key',
  'access_token',
  'refresh_token',
  'private_key',
  'authorization',
  'proxy-authorization',
  'cookie',
  'set-cookie',
  // Covered by their last segment already; listed because they are the usual carriers.
  'http.request.header.authorization',
  'http.request.header.cookie',
];

const positiveInt = z.int().check(z.positive());
const nonEmpty = z.string().check(z.minLength(1));

const prefilterSchema = z.strictObject({
  /** The value is at least this many UTF-16 code units long. */
  minLength: z.optional(positiveInt),
  /** At least one of these literals occurs (case-insensitively when the pattern has flag 'i'). */
  contains: z.optional(z.array(nonEmpty).check(z.minLength(1))),
  /** At least this many ASCII digits occur in one run, single spaces or dashes allowed between them. */
  minDigitRun: z.optional(positiveInt),
});

const patternSchema = z
  .strictObject({
    name: z.string().check(z.regex(/^[a-z][a-z0-9_]*$/, 'lowercase letters, digits and _')),
    regex: nonEmpty,
    /** RegExp flags besides 'g' (which is always set). */
    flags: z.optional(z.string().check(z.regex(/^[imsu]*$/, 'only i, m, s, u'))),
    action: z.enum(['replace', 'hash']),
    check: z.optional(z.literal('luhn')),
    prefilter: z.optional(prefilterSchema),
  })
  .check(
    z.superRefine((p, ctx) => {
      try {
        new RegExp(p.regex, `${p.flags ?? ''}g`);
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          path: ['regex'],
          message: `invalid regex: ${(err as Error).message}`,
        });
      }
    }),
  );

export type RedactionPattern = z.output<typeof patternSchema>;

export const DEFAULT_PATTERNS: readonly RedactionPattern[] = [
  {
    // 13-19 digits, optional single space/dash between them. Cards start with 2-6 (Mastercard 2/5,
    // Amex/JCB/Diners 3, Visa 4, Discover/UnionPay 6): excluding 1 keeps epoch timestamps in
    // s/ms/ns (1…) from being taken for a card when they happen to pass Luhn.
    name: 'card',
    regex: '\\b[2-6](?:[ -]?\\d){12,18}\\b',
    action: 'replace',
    check: 'luhn',
    prefilter: { minDigitRun: 13 },
  },
  {
    name: 'aws_access_key_id',
    regex: '\\b(?:AKIA|ASIA)[A-Z0-9]{16}\\b',
    action: 'replace',
    prefilter: { minLength: 20, contains: ['AKIA', 'ASIA'] },
  },
  {
    // RFC 6750 token68 characters; at least 8 of them so prose ("a bearer of news") is left alone.
    name: 'bearer',
    regex: '\\bBearer\\s+[A-Za-z0-9\\-._~+/]{8,}=*',
    flags: 'i',
    action: 'replace',
    prefilter: { minLength: 15, contains: ['bearer'] },
  },
  {
    // Bounded quantifiers (RFC 5321: local part <= 64, label <= 63) keep the worst case linear on a
    // long value with an '@' and no address. '=', '/', '&', '?' are left out of the local part: in
    // practice they delimit (`email=a@b.com`), and the key should survive.
    name: 'email',
    regex: '[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\\.[A-Za-z0-9-]{1,63}){0,8}\\.[A-Za-z]{2,24}\\b',
    action: 'hash',
    prefilter: { minLength: 6, contains: ['@'] },
  },
];

export const redactionConfigSchema = z.strictObject({
  dropKeys: z._default(z.array(nonEmpty), () => [...DEFAULT_DROP_KEYS]),
  patterns: z._default(z.array(patternSchema), () => DEFAULT_PATTERNS.map((p) => ({ ...p }))),
  /** Prepended before hashing, so hashes cannot be reversed by hashing a list of known addresses. */
  hashSalt: z._default(z.string(), ''),
});

/** What an operator writes (every field optional; a given list replaces its default). */
export type RedactionConfigInput = z.input<typeof redactionConfigSchema>;
export type RedactionConfig = z.output<typeof redactionConfigSchema>;

export const DEFAULT_REDACTION: RedactionConfig = redactionConfigSchema.parse({});

/** Compiled rules: build once (module scope of the handler), use for every request. */
export interface Redactor {
  /** True when an attribute with this key must be left out. */
  dropsKey(key: string): boolean;
  /** `value` with every pattern match replaced or hashed; adds per-pattern match counts to `counts`. */
  redact(value: string, counts: Record<string, number>): string;
}

interface CompiledPattern {
  readonly name: string;
  readonly re: RegExp;
  readonly prefilter: ((s: string) => boolean) | undefined;
  /** Shortest value the prefilter lets through (0 without a prefilter). */
  readonly minLength: number;
  readonly check: ((match: string) => boolean) | undefined;
  readonly hash: boolean;
  readonly replacement: string;
}

// Attribute keys repeat across items: remember each decision, up to a bound.
const KEY_CACHE_MAX = 10_000;
// Values repeat too (routes, hosts, user agents): remember the ones no pattern touched, up to a
// bound and only short ones, so a repeat costs one hash lookup instead of every prefilter.
const CLEAN_CACHE_MAX = 10_000;
const CLEAN_CACHE_MAX_LENGTH = 256;

export function compileRedaction(input: RedactionConfigInput = {}): Redactor {
  const config = redactionConfigSchema.parse(input);
  const dropSet = new Set(config.dropKeys.map((k) => k.toLowerCase()));
  const patterns = config.patterns.map(compilePattern);
  const salt = config.hashSalt;
  const keyCache = new Map<string, boolean>();

  const dropsKey = (key: string): boolean => {
    const cached = keyCache.get(key);
    if (cached !== undefined) return cached;
    const lower = key.toLowerCase();
    const drop = dropSet.has(lower) || dropSet.has(lower.slice(lower.lastIndexOf('.') + 1));
    if (keyCache.size >= KEY_CACHE_MAX) keyCache.clear();
    keyCache.set(key, drop);
    return drop;
  };

  const hashOf = (match: string): string =>
    `sha256:${createHash('sha256')
      .update(salt + match.toLowerCase())
      .digest('hex')
      .slice(0, 16)}`;

  // No pattern can apply to a value shorter than every prefilter's minimum (most values are).
  const minLength = patterns.length === 0 ? Infinity : Math.min(...patterns.map((p) => p.minLength));
  const clean = new Set<string>();

  const redact = (value: string, counts: Record<string, number>): string => {
    if (value.length < minLength) return value;
    const cacheable = value.length <= CLEAN_CACHE_MAX_LENGTH;
    if (cacheable && clean.has(value)) return value;
    let out = value;
    let matched = false;
    for (const p of patterns) {
      if (p.prefilter && !p.prefilter(out)) continue;
      out = out.replace(p.re, (match) => {
        if (p.check && !p.check(match)) return match;
        matched = true;
        counts[p.name] = (counts[p.name] ?? 0) + 1;
        return p.hash ? hashOf(match) : p.replacement;
      });
    }
    if (!matched && cacheable) {
      if (clean.size >= CLEAN_CACHE_MAX) clean.clear();
      clean.add(value);
    }
    return out;
  };

  return { dropsKey, redact };
}

function compilePattern(p: RedactionPattern): CompiledPattern {
  return {
    name: p.name,
    re: new RegExp(p.regex, `${p.flags ?? ''}g`),
    prefilter: compilePrefilter(p.prefilter, (p.flags ?? '').includes('i')),
    minLength: p.prefilter ? Math.max(p.prefilter.minLength ?? 0, p.prefilter.minDigitRun ?? 0) : 0,
    check: p.check === 'luhn' ? luhnValid : undefined,
    hash: p.action === 'hash',
    replacement: `[REDACTED:${p.name}]`,
  };
}

/** Cheapest test first: length, then literals, then the digit run. */
function compilePrefilter(
  p: RedactionPattern['prefilter'],
  ignoreCase: boolean,
): ((s: string) => boolean) | undefined {
  if (!p) return undefined;
  const minRun = p.minDigitRun ?? 0;
  const minLength = Math.max(p.minLength ?? 0, minRun);
  let contains: ((s: string) => boolean) | undefined;
  if (p.contains) {
    const literals = p.contains;
    if (ignoreCase && literals.some((l) => l.toLowerCase() !== l.toUpperCase())) {
      // V8 searches a literal regex faster than a hand-written case-insensitive scan.
      const re = new RegExp(literals.map(escapeRegExp).join('|'), 'i');
      contains = (s) => re.test(s);
    } else {
      contains =
        literals.length === 1 ? (s) => s.includes(literals[0]!) : (s) => literals.some((l) => s.includes(l));
    }
  }
  return (s) =>
    s.length >= minLength &&
    (contains === undefined || contains(s)) &&
    (minRun === 0 || hasDigitRun(s, minRun));
}

/** True when `n` digits occur in a row, a single space or dash allowed between two of them. */
function hasDigitRun(s: string, n: number): boolean {
  let run = 0;
  let sep = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      if (++run >= n) return true;
      sep = false;
    } else if ((c === 32 || c === 45) && run > 0 && !sep) {
      sep = true;
    } else {
      run = 0;
      sep = false;
    }
  }
  return false;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Luhn (mod 10) check over the digits of `s`, ignoring separators. */
export function luhnValid(s: string): boolean {
  let sum = 0;
  let double = false;
  let digits = 0;
  for (let i = s.length - 1; i >= 0; i--) {
    const c = s.charCodeAt(i) - 48;
    if (c < 0 || c > 9) continue;
    digits++;
    let d = c;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits > 0 && sum % 10 === 0;
}
