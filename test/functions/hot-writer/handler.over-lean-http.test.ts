// handler.test.ts again, with the hot writer's client (the lean connection) against local/clickhouse-http.ts.
import { CLICKHOUSE_VIA_ENV } from '../../support/clickhouse.js';

process.env[CLICKHOUSE_VIA_ENV] = 'lean-http';
await import('./handler.test.js');
