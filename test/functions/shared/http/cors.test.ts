import { describe, expect, it } from 'vitest';
import { allowedOrigin, CORS_ORIGIN } from '../../../../functions/shared/http/cors.js';

describe('CORS origins', () => {
  it('allows listed origins exactly, any origin of a scheme with scheme://*, and every origin with *', () => {
    expect(allowedOrigin(['https://app.example.com'], 'https://app.example.com')).toBe(
      'https://app.example.com',
    );
    expect(allowedOrigin(['https://app.example.com'], 'https://app.example.com:8443')).toBeUndefined();
    expect(allowedOrigin(['https://app.example.com'], 'http://app.example.com')).toBeUndefined();
    expect(allowedOrigin(['https://*'], 'https://any.example.org')).toBe('https://any.example.org');
    expect(allowedOrigin(['https://*'], 'http://any.example.org')).toBeUndefined();
    expect(allowedOrigin(['*'], 'http://localhost:3000')).toBe('*');
    expect(allowedOrigin([], 'http://localhost:3000')).toBeUndefined();
    expect(allowedOrigin(['*'], undefined)).toBeUndefined();
  });

  it('takes what API Gateway takes as an allowed origin', () => {
    for (const ok of ['*', 'https://*', 'http://*', 'https://app.example.com', 'http://localhost:3000'])
      expect(CORS_ORIGIN.test(ok), ok).toBe(true);
    for (const bad of ['app.example.com', 'https://app.example.com/', 'https://*.example.com', 'ftp://x', ''])
      expect(CORS_ORIGIN.test(bad), bad).toBe(false);
  });
});
