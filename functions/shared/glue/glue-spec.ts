/**
 * A Glue table as plain data, derived from the column model (see glue-tables.ts). The CDK stack
 * maps it onto `glue.CfnTable`; keeping it free of aws-cdk-lib lets a test compare it with a
 * Parquet file's schema without synthesizing a stack.
 */
export interface GlueColumnSpec {
  readonly name: string;
  /** Hive/Glue type string, e.g. `string`, `map<string,string>`, `array<struct<...>>`. */
  readonly type: string;
  readonly comment?: string;
}

export interface GlueTableSpec {
  readonly name: string;
  readonly description: string;
  readonly columns: readonly GlueColumnSpec[];
  readonly partitionKeys: readonly GlueColumnSpec[];
  /** s3://bucket/prefix/ of the table. */
  readonly location: string;
  /** Table parameters: classification, partition projection (`projection.*`), storage.location.template. */
  readonly parameters: Readonly<Record<string, string>>;
  readonly inputFormat: string;
  readonly outputFormat: string;
  readonly serializationLibrary: string;
}
