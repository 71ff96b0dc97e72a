import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Duration, Token } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { NodejsFunction, OutputFormat, SourceMapMode } from 'aws-cdk-lib/aws-lambda-nodejs';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { type Component, tagComponent } from '../cost-tags.js';
import type { EnvName, FunctionEnvironment, FunctionName } from '../function-environments.js';
import {
  LAMBDA_ESBUILD_OPTIONS,
  LAMBDA_EXTERNAL_MODULES,
  LAMBDA_MODULE_ALIASES,
  REPO_ROOT,
} from '../lambda-bundling.js';
import { acknowledge } from '../nag.js';

export { REPO_ROOT };

/**
 * Packages that exist only for local mode and tests. They must never reach a Lambda bundle: they
 * are marked external (so esbuild never inlines them) and a test greps the bundles for them.
 */
export const LOCAL_ONLY_PACKAGES = ['chdb', 'kinesalite', 'dynalite', 's3rver', '@duckdb/node-api'] as const;

/**
 * esbuild's ESM output has no `require`, `__filename` or `__dirname`; CommonJS dependencies still
 * use them (parquet-wasm reads its .wasm from `__dirname`), so the bundle defines them.
 */
export const LAMBDA_BANNER =
  "import { createRequire } from 'node:module'; import { fileURLToPath as __toPath } from 'node:url'; " +
  'const require = createRequire(import.meta.url); const __filename = __toPath(import.meta.url); ' +
  "const __dirname = __filename.slice(0, __filename.lastIndexOf('/'));";

export interface PipelineFunctionProps<N extends FunctionName = FunctionName> {
  /**
   * Folder under `functions/`; the entry is `functions/<name>/handler.ts` exporting `handler`, and
   * its environment schema (lib/function-environments.ts) types `environment`.
   */
  readonly name: N;
  /** The cost-allocation `component` tag of the function and its log group. */
  readonly component: Component;
  /** Memory in MB; explicit on purpose, there is no silent default. */
  readonly memorySize: number;
  /** Explicit on purpose, there is no silent default. */
  readonly timeout: Duration;
  /**
   * How the function is invoked. 'synchronous' (API Gateway, a stream event source mapping, a
   * custom resource provider): the caller sees failures, so a Lambda DLQ would never be used.
   * 'asynchronous' (Scheduler, EventBridge): failures must land somewhere, so
   * `sendFailedInvocationsTo()` has to be called before synthesis.
   */
  readonly invocation: 'synchronous' | 'asynchronous';
  readonly description?: string;
  /**
   * Function-specific variables, only names the function's config.ts schema reads (a misspelt one
   * fails to compile); an `undefined` value is left out. The Powertools ones are added here.
   * @default {}
   */
  readonly environment?: FunctionEnvironment<NoInfer<N>>;
  /** @default logs.RetentionDays.ONE_MONTH */
  readonly logRetention?: logs.RetentionDays;
  /** @default - unreserved */
  readonly reservedConcurrentExecutions?: number;
  /**
   * V8's largest young-generation semi-space in MiB (`NODE_OPTIONS=--max-semi-space-size`): a
   * function that holds a batch's decoded rows while it allocates garbage around them spends less
   * CPU in scavenges with a larger one (the hot writer: docs/decisions/0004). Must be 1-256.
   * @default - Node's own (16 MiB)
   */
  readonly maxSemiSpaceMiB?: number;
  /** CloudWatch namespace of the function's Powertools metrics: `metricsNamespace(environment)`. */
  readonly metricsNamespace: string;
  /**
   * Powertools service name (the `service` dimension of its metrics), and the name alarms use;
   * differs from `name` when one handler is deployed several times (the notifiers). @default name
   */
  readonly serviceName?: string;
  /**
   * Folders or files copied into the bundle beside `index.mjs`, e.g. `{ from: 'alerts', to: 'alerts' }`:
   * what the function reads at run time from /var/task (rule files, a dependency's .wasm). `from` is
   * relative to the repository root, `to` to the bundle.
   * @default - none
   */
  readonly bundledPaths?: readonly { readonly from: string; readonly to: string }[];
  /**
   * Packages left out of the bundle and taken from the Lambda runtime (nodejs22.x ships AWS SDK v3)
   * when first imported: for clients on a rare path (a dynamic `import()`), so they cost neither
   * bundle size nor cold start. @default - none
   */
  readonly runtimeProvidedModules?: readonly string[];
  /**
   * X-Ray mode: the data-path functions take the `dataPathTracing` setting (pass-through by
   * default: on every invocation X-Ray would cost more than the function).
   * @default lambda.Tracing.ACTIVE
   */
  readonly tracing?: lambda.Tracing;
}

/**
 * Every Lambda of the pipeline: arm64, nodejs22.x, ESM bundle (minified, source maps, the AWS SDK
 * v3 bundled in, its credential chain cut to the environment provider) built by the local esbuild package (never Docker), X-Ray tracing, JSON logs in a
 * log group with retention, explicit memory and timeout, and Powertools configured from the
 * environment. One construct so no two functions drift apart.
 *
 * @example
 * const fn = new PipelineFunction(this, 'Ingest', {
 *   name: 'ingest', component: 'ingest', memorySize: 1024, timeout: Duration.seconds(29),
 *   metricsNamespace: metricsNamespace('prod'),
 *   environment: { STREAM_NAME: stream.streamName }, // names checked against functions/ingest/config.ts
 * });
 * stream.grantWrite(fn); // IGrantable: grants take the construct
 */
export class PipelineFunction<N extends FunctionName = FunctionName>
  extends Construct
  implements iam.IGrantable
{
  public readonly function: NodejsFunction;
  /** The function's role: `bucket.grantRead(fn)`, `stream.grantWrite(fn)` take the construct itself. */
  public readonly grantPrincipal: iam.IPrincipal;
  /** The execution role (for narrow statements' cdk-nag acknowledgements). */
  public readonly role: iam.IRole | undefined;
  public readonly logGroup: logs.LogGroup;
  /** The folder under functions/ (handler and environment schema); `name` is the service name. */
  public readonly folder: N;
  public readonly name: string;
  /** Where the function's Powertools metrics go. */
  public readonly metricsNamespace: string;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps<N>) {
    super(scope, id);
    if (!/^[a-z][a-z0-9-]*$/.test(props.name)) {
      throw new Error(`\`name\` must be a kebab-case folder under functions/, got: ${props.name}`);
    }
    if (!Token.isUnresolved(props.memorySize) && (props.memorySize < 128 || props.memorySize > 10_240)) {
      throw new Error(`\`memorySize\` must be 128..10240 MB, got: ${props.memorySize}`);
    }
    const semi = props.maxSemiSpaceMiB;
    if (semi !== undefined && (!Number.isInteger(semi) || semi < 1 || semi > 256)) {
      throw new Error(`\`maxSemiSpaceMiB\` must be an integer 1..256, got: ${semi}`);
    }
    if (!props.timeout.isUnresolved() && props.timeout.toSeconds() > 900) {
      throw new Error(`\`timeout\` must be at most 900 s, got: ${props.timeout.toSeconds()}`);
    }
    const entry = join(REPO_ROOT, 'functions', props.name, 'handler.ts');
    if (!existsSync(entry)) throw new Error(`no handler for function \`${props.name}\`: ${entry} is missing`);

    const copies = (props.bundledPaths ?? []).map(({ from, to }) => {
      for (const [key, path] of [
        ['from', from],
        ['to', to],
      ] as const) {
        if (!/^[A-Za-z0-9_@][A-Za-z0-9_@./-]*$/.test(path) || path.split('/').includes('..')) {
          throw new Error(`\`bundledPaths\` \`${key}\` must be a relative path without .., got: ${path}`);
        }
      }
      if (!existsSync(join(REPO_ROOT, from))) {
        throw new Error(`\`bundledPaths\` names a missing path: ${join(REPO_ROOT, from)}`);
      }
      return { from, to, folder: statSync(join(REPO_ROOT, from)).isDirectory() };
    });

    this.folder = props.name;
    this.name = props.serviceName ?? props.name;
    this.metricsNamespace = props.metricsNamespace;
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH,
    });

    this.function = new NodejsFunction(this, 'Function', {
      entry,
      handler: 'handler',
      description: props.description,
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      memorySize: props.memorySize,
      timeout: props.timeout,
      reservedConcurrentExecutions: props.reservedConcurrentExecutions,
      tracing: props.tracing ?? lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      loggingFormat: lambda.LoggingFormat.JSON,
      environment: {
        POWERTOOLS_SERVICE_NAME: this.name,
        POWERTOOLS_METRICS_NAMESPACE: props.metricsNamespace,
        ...definedValues(props.environment ?? {}),
        ...(props.maxSemiSpaceMiB !== undefined && {
          NODE_OPTIONS: `--max-semi-space-size=${props.maxSemiSpaceMiB}`,
        }),
      },
      projectRoot: REPO_ROOT,
      depsLockFilePath: join(REPO_ROOT, 'package-lock.json'),
      bundling: {
        forceDockerBundling: false,
        // The options the benchmarks bundle with too (LAMBDA_ESBUILD_OPTIONS: one place for them).
        format: OutputFormat.ESM,
        target: LAMBDA_ESBUILD_OPTIONS.target,
        mainFields: [...LAMBDA_ESBUILD_OPTIONS.mainFields],
        minify: LAMBDA_ESBUILD_OPTIONS.minify,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        sourcesContent: false,
        banner: LAMBDA_BANNER,
        // Bundle SDK v3 too: a pinned, tree-shaken client starts faster than the runtime's copy.
        externalModules: [
          ...LOCAL_ONLY_PACKAGES,
          ...LAMBDA_EXTERNAL_MODULES,
          ...(props.runtimeProvidedModules ?? []),
        ],
        esbuildArgs: Object.fromEntries(
          Object.entries(LAMBDA_MODULE_ALIASES).map(([from, to]) => [`--alias:${from}`, to]),
        ),
        // Local bundling only (never Docker), so these run in a POSIX shell on the build machine.
        ...(copies.length > 0 && {
          commandHooks: {
            beforeBundling: () => [],
            beforeInstall: () => [],
            afterBundling: (inputDir: string, outputDir: string) =>
              copies.map(({ from, to, folder }) =>
                folder
                  ? `mkdir -p "${outputDir}/${to}" && cp -R "${inputDir}/${from}/." "${outputDir}/${to}/"`
                  : `mkdir -p "$(dirname "${outputDir}/${to}")" && cp "${inputDir}/${from}" "${outputDir}/${to}"`,
              ),
          },
        }),
      },
    });
    this.grantPrincipal = this.function.grantPrincipal;
    this.role = this.function.role;
    tagComponent(this, props.component);

    if (props.invocation === 'synchronous') {
      acknowledge(
        this.function,
        'Serverless-LambdaDLQ',
        'Invoked synchronously (API Gateway, a stream event source mapping with its own on-failure destination, or a custom resource provider): a DLQ applies only to asynchronous invocations.',
      );
    } else {
      this.node.addValidation({
        validate: () =>
          this.asyncDeadLetterQueue === undefined
            ? [
                `${this.name} is invoked asynchronously but has no dead-letter queue: call sendFailedInvocationsTo()`,
              ]
            : [],
      });
    }
    // The runtime is pinned on purpose (ADR 0006): a runtime upgrade is a tested change, not drift.
    for (const rule of ['AwsSolutions-L1', 'Serverless-LambdaLatestVersion']) {
      acknowledge(
        this.function,
        rule,
        'nodejs22.x is the runtime the project targets and tests; moving to a newer runtime is a deliberate, tested upgrade.',
      );
    }

    const role = this.function.role;
    if (role !== undefined) {
      acknowledge(
        role,
        'AwsSolutions-IAM4',
        'AWSLambdaBasicExecutionRole only allows writing to CloudWatch Logs; the function logs to its own log group.',
        'Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
      );
      acknowledge(
        role,
        'AwsSolutions-IAM5',
        'X-Ray PutTraceSegments/PutTelemetryRecords support no resource-level permissions.',
        'Resource::*',
      );
    }
  }

  private asyncDeadLetterQueue?: sqs.IQueue;

  /** Asynchronous invocations that still fail after Lambda's retries go to `queue`. */
  public sendFailedInvocationsTo(queue: sqs.IQueue): this {
    const cfn = this.function.node.defaultChild as lambda.CfnFunction;
    cfn.deadLetterConfig = { targetArn: queue.queueArn };
    queue.grantSendMessages(this.function);
    this.asyncDeadLetterQueue = queue;
    return this;
  }

  /**
   * Adds an environment variable after construction (e.g. a reference created later); like
   * `environment`, only a name the function's schema reads.
   */
  public addEnvironment(key: EnvName<N>, value: string): this {
    this.function.addEnvironment(key, value);
    return this;
  }

  /** Adds a statement to the function's role (a narrower grant than the `grantX()` helpers give). */
  public addToRolePolicy(statement: iam.PolicyStatement): this {
    this.function.addToRolePolicy(statement);
    return this;
  }

  /**
   * One of the function's own Powertools metrics (PIPELINE_METRICS), with the `service` dimension
   * Powertools adds: e.g. `metric('DeadLetters', { statistic: 'Sum' })`.
   */
  metric(metricName: string, props: cloudwatch.MetricOptions = {}): cloudwatch.Metric {
    return new cloudwatch.Metric({
      namespace: this.metricsNamespace,
      metricName,
      dimensionsMap: { service: this.name },
      ...props,
    });
  }
}

function definedValues(env: Readonly<Record<string, string | undefined>>): Record<string, string> {
  return Object.fromEntries(Object.entries(env).filter((e): e is [string, string] => e[1] !== undefined));
}
