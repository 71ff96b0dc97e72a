import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Modules replaced in every Lambda bundle (esbuild `alias`), shared by the function construct and
 * the bundle-size benchmark so both measure the same thing:
 * - the SDK's default credential chain becomes the environment provider alone: in Lambda the role's
 *   credentials are always in the environment, and the chain's other links are ~135 KB
 *   (functions/shared/aws/lambda-credentials.ts).
 */
export const LAMBDA_MODULE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': join(REPO_ROOT, 'functions/shared/aws/lambda-credentials.ts'),
};
