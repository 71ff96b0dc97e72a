import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Repository root: entries are `functions/<name>/handler.ts` below it. */
export const REPO_ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/**
 * Modules replaced in every Lambda bundle (esbuild `alias`), shared by the function construct and
 * the bundle-size benchmark so both measure the same thing:
 * - the SDK's default credential chain becomes the environment provider alone: in Lambda the role's
 *   credentials are always in the environment, and the chain's other links are ~135 KB
 *   (functions/shared/aws/lambda-credentials.ts);
 * - `semver`, which the X-Ray SDK under Powertools Tracer loads whole (28 KiB) for one `gte` on
 *   release versions, becomes that function alone (functions/shared/aws/semver-gte.ts).
 */
export const LAMBDA_MODULE_ALIASES: Readonly<Record<string, string>> = {
  '@aws-sdk/credential-provider-node': join(REPO_ROOT, 'functions/shared/aws/lambda-credentials.ts'),
  semver: join(REPO_ROOT, 'functions/shared/aws/semver-gte.ts'),
};

/**
 * esbuild's options for a function bundle: the function construct passes them through CDK's
 * bundling props (ESM for node22, minified, `module` before `main` so packages ship their
 * tree-shakable builds, the aliases above), and the benchmarks that bundle a function themselves
 * use them as they are (bench/ingest.ts for its size, bench/hot-writer-bundled.ts for its CPU).
 */
export const LAMBDA_ESBUILD_OPTIONS = {
  bundle: true,
  minify: true,
  platform: 'node',
  target: 'node22',
  // OutputFormat.ESM in the construct: CDK's enum, which this module keeps out of the benchmarks.
  format: 'esm',
  mainFields: ['module', 'main'],
  alias: { ...LAMBDA_MODULE_ALIASES },
} as const;

/**
 * Left out of every Lambda bundle although functions import them: `@bokuweb/zstd-wasm` is the zstd
 * of Node < 22.15 (local mode on Node 20) for envelopes and Parquet pages; Lambda's nodejs22.x has
 * zstd in node:zlib, and functions/shared/compression/zstd.ts loads the package only when that is
 * missing.
 */
export const LAMBDA_EXTERNAL_MODULES: readonly string[] = ['@bokuweb/zstd-wasm'];

/**
 * Taken from the Lambda runtime by the ingest function, on first use only: the EventBridge client
 * of the quota warning (once per tenant and day), kept out of the ingest bundle's size budget.
 */
export const INGEST_RUNTIME_PROVIDED_MODULES: readonly string[] = ['@aws-sdk/client-eventbridge'];

/**
 * The hot-writer function's V8 young-generation semi-space in MiB (NODE_OPTIONS
 * `--max-semi-space-size`): a batch's rows stay live through the insert, and fewer scavenges copy
 * them (docs/decisions/0004). bench/hot-writer-bundled.ts runs the bundled consumer with it.
 */
export const HOT_WRITER_MAX_SEMI_SPACE_MIB = 64;

/** parquet-wasm's Node build reads this file from beside the bundle (`__dirname`) when imported. */
export const PARQUET_WASM_FILE = {
  from: 'node_modules/parquet-wasm/node/parquet_wasm_bg.wasm',
  to: 'parquet_wasm_bg.wasm',
} as const;
