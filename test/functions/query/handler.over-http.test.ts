// handler.test.ts again: the query API reading ClickHouse with the production HTTP client, against
// local/clickhouse-http.ts over the same embedded engine.
import { CLICKHOUSE_VIA_ENV } from '../../support/clickhouse.js';

process.env[CLICKHOUSE_VIA_ENV] = 'http';
await import('./handler.test.js');
