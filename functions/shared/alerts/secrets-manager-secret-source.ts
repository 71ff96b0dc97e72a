import { SecretsProvider } from '@aws-lambda-powertools/parameters/secrets';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SecretNotFoundError, type SecretSource } from './secrets.js';

/** How long a secret is trusted before Secrets Manager is asked again (rotation). */
const MAX_AGE_SECONDS = 300;

/** Secrets Manager through Powertools parameters (cached per container for five minutes). */
export class SecretsManagerSecretSource implements SecretSource {
  private readonly provider: SecretsProvider;

  constructor(client?: SecretsManagerClient) {
    this.provider = new SecretsProvider(client ? { awsSdkV3Client: client } : {});
  }

  async get(ref: string): Promise<string> {
    const value = await this.provider.get(ref, { maxAge: MAX_AGE_SECONDS });
    if (typeof value !== 'string' || value === '')
      throw new SecretNotFoundError(`secret ${ref} has no string value`);
    return value;
  }
}
