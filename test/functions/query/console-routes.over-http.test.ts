// console-routes.test.ts again: the console's routes reading ClickHouse with the production HTTP
// client, against local/clickhouse-http.ts over the same embedded engine.
import { CLICKHOUSE_VIA_ENV } from '../../support/clickhouse.js';

process.env[CLICKHOUSE_VIA_ENV] = 'http';
await import('./console-routes.test.js');
