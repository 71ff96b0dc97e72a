import { createHash } from 'node:crypto';
import { ident, qualified, TENANT_TABLES } from './ddl.js';

/**
 * A read-only ClickHouse login for one tenant, for tools that query ClickHouse directly (Grafana's
 * ClickHouse data source, HyperDX/ClickStack, DBeaver): they know nothing of `TenantId`, so the
 * server has to hide other tenants' rows.
 *
 * - a role `tenant_<id>_reader` holds `SELECT` on each tenant table (TENANT_TABLES, never `db.*`:
 *   the write ledger and schema_migrations are not tenant data) and a row policy per table,
 *   `USING TenantId = '<id>'`, so every query through the role sees that tenant's rows only;
 * - a user `tenant_<id>` with that role as its default and `readonly = 2` (no writes, no DDL; the
 *   tools may still set query settings such as max_execution_time, which readonly = 1 refuses);
 * - the password is sent as its SHA-256 (`sha256_hash`), so neither the statements nor the query
 *   log hold it. Running the statements again replaces the user and so rotates the password.
 *
 * Row policies restrict only the users and roles they name: an admin without one keeps seeing
 * every row (ClickHouse's `users_without_row_policies_can_read_rows`, on by default).
 */

export interface TenantAccess {
  readonly user: string;
  readonly role: string;
  /** Per table: the row policy's condition (as in the statements). */
  readonly policies: ReadonlyArray<{ readonly table: string; readonly condition: string }>;
  /** In order; every one idempotent, and the user's is `CREATE USER OR REPLACE`. */
  readonly statements: string[];
}

/**
 * The tenant user's settings: `readonly = 2` refuses INSERT, ALTER, DDL and a change of `readonly`
 * itself, while letting the tools set other query settings.
 */
export const TENANT_USER_SETTINGS = { readonly: '2' } as const;

/** Tenant ids as the key directory accepts them (tenants/keys.ts); the same check keeps SQL literal-safe. */
const TENANT_ID = /^[a-z0-9][a-z0-9-]{0,62}$/;

export function tenantUserName(tenant: string): string {
  return `tenant_${tenant.replace(/-/g, '_')}`;
}

export function tenantAccessStatements(options: {
  readonly tenant: string;
  readonly password: string;
  readonly database?: string;
}): TenantAccess {
  const { tenant, password, database } = options;
  if (!TENANT_ID.test(tenant)) {
    throw new RangeError(
      `tenant id must be lower-case letters, digits and '-', at most 63 characters, got: ${JSON.stringify(tenant)}`,
    );
  }
  if (password.length < 16) throw new RangeError('password must be at least 16 characters');
  const user = tenantUserName(tenant);
  const role = `${user}_reader`;
  const condition = `TenantId = '${tenant}'`;
  const policies = TENANT_TABLES.map((table) => ({ table, condition }));
  const hash = createHash('sha256').update(password, 'utf8').digest('hex');
  const settings = Object.entries(TENANT_USER_SETTINGS)
    .map(([k, v]) => `${k} = ${v}`)
    .join(', ');
  return {
    user,
    role,
    policies,
    statements: [
      `CREATE ROLE IF NOT EXISTS ${ident(role)}`,
      ...policies.map(
        (p) =>
          `CREATE ROW POLICY IF NOT EXISTS ${ident(user)} ON ${qualified(p.table, database)} FOR SELECT USING ${p.condition} TO ${ident(role)}`,
      ),
      ...policies.map((p) => `GRANT SELECT ON ${qualified(p.table, database)} TO ${ident(role)}`),
      `CREATE USER OR REPLACE ${ident(user)} IDENTIFIED WITH sha256_hash BY '${hash}' SETTINGS ${settings}`,
      `GRANT ${ident(role)} TO ${ident(user)}`,
      `ALTER USER ${ident(user)} DEFAULT ROLE ${ident(role)}`,
    ],
  };
}
