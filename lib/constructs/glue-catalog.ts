import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import * as glue from 'aws-cdk-lib/aws-glue';
import { Construct } from 'constructs';
import type { GlueTableSpec } from '../../functions/shared/glue/glue-spec.js';

export interface GlueCatalogProps {
  /** Glue database name (what Athena users type); lower-case letters, digits and `_`. */
  readonly databaseName: string;
  /** One Glue table per spec, generated from the column model (functions/shared/glue). */
  readonly tables: readonly GlueTableSpec[];
}

/**
 * The lake's Glue database and tables. Partitions come from partition projection declared in each
 * table's parameters, so there are no crawlers and no partition-adding functions: a file written
 * under `tenant=/dt=/hour=` is queryable the moment it lands.
 */
export class GlueCatalog extends Construct {
  public readonly database: glue.CfnDatabase;
  public readonly tables: ReadonlyMap<string, glue.CfnTable>;
  public readonly databaseName: string;

  constructor(scope: Construct, id: string, props: GlueCatalogProps) {
    super(scope, id);
    if (!/^[a-z0-9_]{1,255}$/.test(props.databaseName)) {
      throw new Error(
        `\`databaseName\` must be lower-case letters, digits and _, got: ${props.databaseName}`,
      );
    }
    if (props.tables.length === 0) throw new Error('`tables` must name at least one table, got: []');
    const catalogId = Stack.of(this).account;
    this.databaseName = props.databaseName;
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId,
      databaseInput: {
        name: props.databaseName,
        description: 'OpenTelemetry lake (Parquet on S3); partitions by partition projection.',
      },
    });
    this.database.applyRemovalPolicy(RemovalPolicy.RETAIN);

    const tables = new Map<string, glue.CfnTable>();
    for (const spec of props.tables) {
      if (tables.has(spec.name)) throw new Error(`table \`${spec.name}\` is listed twice`);
      const table = new glue.CfnTable(this, spec.name, {
        catalogId,
        databaseName: props.databaseName,
        tableInput: {
          name: spec.name,
          description: spec.description,
          tableType: 'EXTERNAL_TABLE',
          parameters: { ...spec.parameters },
          partitionKeys: spec.partitionKeys.map(toGlueColumn),
          storageDescriptor: {
            location: spec.location,
            columns: spec.columns.map(toGlueColumn),
            inputFormat: spec.inputFormat,
            outputFormat: spec.outputFormat,
            serdeInfo: { serializationLibrary: spec.serializationLibrary },
            compressed: true,
          },
        },
      });
      table.addResourceDependency(this.database);
      table.applyRemovalPolicy(RemovalPolicy.RETAIN);
      tables.set(spec.name, table);
    }
    this.tables = tables;
  }
}

function toGlueColumn(c: { name: string; type: string; comment?: string }): glue.CfnTable.ColumnProperty {
  return c.comment === undefined
    ? { name: c.name, type: c.type }
    : { name: c.name, type: c.type, comment: c.comment };
}
