import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createApp, type PipelineApp } from '../../../bin/app.js';

/**
 * The real CDK app (bin/app.ts) with test context. Bundling is skipped unless asked for:
 * esbuilding every function for every assertion file is slow on a small machine, and one test
 * (bundles.test.ts) bundles for real. CDK's built-in CloudFormation schema validation (~20 s
 * here) is left to `npm run synth`; the cdk-nag packs still run on every synth.
 */
export function testApp(
  context: Record<string, unknown> = {},
  options: { bundle?: boolean } = {},
): PipelineApp {
  return createApp({
    outdir: mkdtempSync(join(tmpdir(), 'cdk-out-')),
    builtinCloudFormationValidation: false,
    context: {
      ...(options.bundle ? {} : { 'aws:cdk:bundling-stacks': [] }),
      ...context,
    },
  });
}
