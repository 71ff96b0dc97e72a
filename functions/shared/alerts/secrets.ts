/**
 * Where notifiers find channel secrets (webhook URLs, HMAC keys, PagerDuty routing keys). A channel
 * names its secret by reference: a Secrets Manager ARN in AWS, or `env:NAME` in local mode.
 */
export interface SecretSource {
  get(ref: string): Promise<string>;
}

export class SecretNotFoundError extends Error {
  override readonly name = 'SecretNotFoundError';
}

/**
 * Local mode and tests: `env:NAME` from the environment, anything else (an ARN) from `values`, so a
 * rule file written for AWS runs locally with its ARNs mapped to local endpoints.
 */
export class LocalSecretSource implements SecretSource {
  constructor(
    private readonly values: Readonly<Record<string, string>> = {},
    private readonly env: Readonly<Record<string, string | undefined>> = process.env,
  ) {}

  async get(ref: string): Promise<string> {
    const value = ref.startsWith('env:') ? this.env[ref.slice(4)] : this.values[ref];
    if (value === undefined || value === '') throw new SecretNotFoundError(`no value for secret ${ref}`);
    return value;
  }
}
