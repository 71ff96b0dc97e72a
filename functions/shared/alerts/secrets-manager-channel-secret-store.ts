import {
  CreateSecretCommand,
  PutSecretValueCommand,
  ResourceExistsException,
  type SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import type { ChannelSecretStore } from './channel-secrets.js';

/**
 * Channel secrets in Secrets Manager: one secret per channel, named `<prefix><tenant>/<channel>`
 * under the alert secret prefix the notifiers may read (lib/settings.ts alertSecretPrefix). A new
 * value replaces the old one (PutSecretValue), so a rotation needs no change to the channel.
 */
export class SecretsManagerChannelSecretStore implements ChannelSecretStore {
  constructor(
    private readonly client: SecretsManagerClient,
    private readonly prefix: string,
  ) {}

  async put(tenant: string, channelId: string, value: string): Promise<string> {
    const name = `${this.prefix}${tenant}/${channelId}`;
    try {
      const out = await this.client.send(
        new CreateSecretCommand({
          Name: name,
          SecretString: value,
          Description: `Alert channel ${channelId} of tenant ${tenant} (written by the alerts API)`,
          Tags: [{ Key: 'otlp-pipeline:tenant', Value: tenant }],
        }),
      );
      if (!out.ARN) throw new Error(`Secrets Manager returned no ARN for ${name}`);
      return out.ARN;
    } catch (err) {
      if (!(err instanceof ResourceExistsException)) throw err;
      const out = await this.client.send(new PutSecretValueCommand({ SecretId: name, SecretString: value }));
      if (!out.ARN) throw new Error(`Secrets Manager returned no ARN for ${name}`);
      return out.ARN;
    }
  }
}
