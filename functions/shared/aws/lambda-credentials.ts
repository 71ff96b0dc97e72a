import { fromEnv } from '@aws-sdk/credential-provider-env';

/**
 * Stands in for `@aws-sdk/credential-provider-node` in the Lambda bundles only (an esbuild alias
 * set by lib/constructs/pipeline-function.ts). Lambda hands a function its role's credentials in
 * environment variables, so the default chain's other links (SSO, ini files, process, web identity,
 * instance metadata) are dead code there, and they are ~135 KB of a bundle with a 500 KB budget
 * (docs/decisions/0001-envelope-and-stream.md). Tests and local mode never see this module: they run
 * the SDK's real chain.
 */
export function defaultProvider(init?: Parameters<typeof fromEnv>[0]): ReturnType<typeof fromEnv> {
  return fromEnv(init);
}
