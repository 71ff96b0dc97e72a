// edge-rollup.test.ts again: the service map storing closed hours (an INSERT ... SELECT with
// parameters) and reading them with the production HTTP client, against local/clickhouse-http.ts.
import { CLICKHOUSE_VIA_ENV } from '../../../support/clickhouse.js';

process.env[CLICKHOUSE_VIA_ENV] = 'http';
await import('./edge-rollup.test.js');
