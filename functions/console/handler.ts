import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from 'aws-lambda';
import { type ConsoleFiles, DirectoryConsoleFiles, serveConsole } from '../shared/console/static-site.js';

/**
 * The console's files on the query API's own origin (GET /, /index.html, /assets/{file}):
 * docs/decisions/0007-console.md says why a Lambda and not S3 + CloudFront. No middy chain: it
 * reads no tenant data and calls nothing, so there is nothing to trace or meter beyond what
 * API Gateway's access log and Lambda's own metrics record.
 */

export function createConsoleHandler(files: ConsoleFiles) {
  return async (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> =>
    serveConsole(
      {
        method: event.requestContext.http.method,
        path: event.rawPath,
        ...(event.headers?.['accept-encoding'] !== undefined && {
          acceptEncoding: event.headers['accept-encoding'],
        }),
      },
      files,
    );
}

/** In the Lambda package the files sit beside index.mjs (bundledPaths console/dist -> console). */
export const handler = createConsoleHandler(
  new DirectoryConsoleFiles(join(dirname(fileURLToPath(import.meta.url)), 'console'), true),
);
