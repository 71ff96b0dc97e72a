import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  compileRedaction,
  DEFAULT_PATTERNS,
  DEFAULT_REDACTION,
  luhnValid,
  redactionConfigSchema,
} from '../../../../functions/shared/rows/redact.js';

const redactor = compileRedaction();
const redact = (s: string) => redactor.redact(s, {});

describe('default drop keys', () => {
  it('drops secret-bearing keys, case-insensitively, by whole key or last dot-segment', () => {
    for (const key of [
      'password',
      'PASSWORD',
      'db.password',
      'passwd',
      'secret',
      'api_key',
      'apikey',
      'x-api-key',
      'authorization',
      'http.request.header.authorization',
      'http.request.header.cookie',
      'http.response.header.set-cookie',
      'Cookie',
    ]) {
      expect(redactor.dropsKey(key), key).toBe(true);
    }
  });

  it('keeps keys that merely contain a secret word', () => {
    for (const key of [
      'password_hint',
      'passwords.count',
      'user.name',
      'http.request.header.content-type',
      'secret.rotation.days',
    ]) {
      expect(redactor.dropsKey(key), key).toBe(false);
    }
  });
});

describe('default patterns', () => {
  it('replaces Luhn-valid card numbers with or without separators', () => {
    expect(redact('card 4111111111111111 ok')).toBe('card [REDACTED:card] ok');
    expect(redact('4111 1111 1111 1111')).toBe('[REDACTED:card]');
    expect(redact('5500-0000-0000-0004;')).toBe('[REDACTED:card];');
    expect(redact('amex 378282246310005')).toBe('amex [REDACTED:card]');
  });

  it('leaves Luhn-invalid numbers, epoch timestamps and longer digit runs alone', () => {
    expect(redact('order 4111111111111112')).toBe('order 4111111111111112');
    expect(redact('ts=1700000000000 ns=1700000000123456789')).toBe('ts=1700000000000 ns=1700000000123456789');
    expect(redact('id 41111111111111110000000')).toBe('id 41111111111111110000000');
    expect(redact('short 4111 1111 111')).toBe('short 4111 1111 111');
  });

  it('hashes e-mail addresses so the same address still groups', () => {
    const counts: Record<string, number> = {};
    const a = redactor.redact('from jane.doe+x@example.co.uk to bob@example.com', counts);
    expect(a).toMatch(/^from sha256:[0-9a-f]{16} to sha256:[0-9a-f]{16}$/);
    expect(counts).toEqual({ email: 2 });
    expect(redact('Jane.Doe+x@Example.co.uk')).toBe(a.split(' ')[1]);
    expect(redact('email=jane.doe+x@example.co.uk')).toBe(`email=${a.split(' ')[1]}`);
    expect(a.split(' ')[1]).not.toBe(a.split(' ')[3]);
    expect(redact('not an address: a@b, @home')).toBe('not an address: a@b, @home');
  });

  it('salts the hash when configured, so known addresses cannot be looked up', () => {
    const salted = compileRedaction({ hashSalt: 's3cret' });
    expect(salted.redact('bob@example.com', {})).not.toBe(redact('bob@example.com'));
  });

  it('replaces bearer tokens, whatever the case of "Bearer"', () => {
    expect(redact('Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig-_x= done')).toBe(
      'Authorization: [REDACTED:bearer] done',
    );
    expect(redact('bearer abc123def')).toBe('[REDACTED:bearer]');
    expect(redact('a bearer of good news')).toBe('a bearer of good news');
  });

  it('replaces AWS access key ids', () => {
    expect(redact('key AKIAIOSFODNN7EXAMPLE used')).toBe('key [REDACTED:aws_access_key_id] used');
    expect(redact('ASIAY34FZKBOKMUTVV7A')).toBe('[REDACTED:aws_access_key_id]');
    expect(redact('AKIAIOSFODNN7EXAMPL')).toBe('AKIAIOSFODNN7EXAMPL');
  });

  it('gives the same result with and without the prefilters', () => {
    const plain = compileRedaction({ patterns: DEFAULT_PATTERNS.map(({ prefilter: _, ...p }) => p) });
    const alphabet = fc.constantFrom(...'0123456789 -@.abAKISbearerBEARER:xyz'.split(''));
    fc.assert(
      fc.property(
        fc.string({ unit: alphabet, maxLength: 60 }),
        (s) => redactor.redact(s, {}) === plain.redact(s, {}),
      ),
      { numRuns: 300 },
    );
  });
});

describe('redaction config', () => {
  it('parses an empty config to the documented defaults, and an env JSON to custom rules', () => {
    expect(redactionConfigSchema.parse({})).toEqual(DEFAULT_REDACTION);
    expect(DEFAULT_REDACTION.patterns.map((p) => [p.name, p.action])).toEqual([
      ['card', 'replace'],
      ['aws_access_key_id', 'replace'],
      ['bearer', 'replace'],
      ['email', 'hash'],
    ]);
    const parsed = redactionConfigSchema.parse(
      JSON.parse(
        '{"dropKeys":["ssn"],"patterns":[{"name":"ssn","regex":"\\\\b\\\\d{3}-\\\\d{2}-\\\\d{4}\\\\b","action":"replace"}]}',
      ),
    );
    const custom = compileRedaction(parsed);
    expect(custom.redact('ssn 123-45-6789, card 4111111111111111', {})).toBe(
      'ssn [REDACTED:ssn], card 4111111111111111',
    );
    expect(custom.dropsKey('user.ssn')).toBe(true);
    expect(custom.dropsKey('password')).toBe(false);
  });

  it('refuses an invalid regex, an unknown action and unknown fields with a clear message', () => {
    const bad = redactionConfigSchema.safeParse({ patterns: [{ name: 'x', regex: '(', action: 'replace' }] });
    expect(bad.success).toBe(false);
    expect(bad.error?.issues[0]?.message).toMatch(/^invalid regex/);
    expect(
      redactionConfigSchema.safeParse({ patterns: [{ name: 'x', regex: 'a', action: 'mask' }] }).success,
    ).toBe(false);
    expect(redactionConfigSchema.safeParse({ dropkeys: [] }).success).toBe(false);
  });
});

describe('luhnValid', () => {
  it('accepts valid and refuses invalid check digits', () => {
    expect(luhnValid('79927398713')).toBe(true);
    expect(luhnValid('79927398710')).toBe(false);
    expect(luhnValid('4111-1111-1111-1111')).toBe(true);
  });
});
