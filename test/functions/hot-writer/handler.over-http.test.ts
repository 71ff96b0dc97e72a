// handler.test.ts again, with the production HTTP client against local/clickhouse-http.ts.
import { CLICKHOUSE_VIA_ENV } from '../../support/clickhouse.js';

process.env[CLICKHOUSE_VIA_ENV] = 'http';
await import('./handler.test.js');
