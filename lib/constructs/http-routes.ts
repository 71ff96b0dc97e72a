import * as apigwv2 from 'aws-cdk-lib/aws-apigatewayv2';
import type { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { acknowledge } from '../nag.js';

/** One route of a function: the shape of QUERY_ROUTES, ALERTS_ROUTES and the ingest paths. */
export interface HttpRoute {
  readonly path: string;
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
}

/**
 * Mounts one function's routes on an HTTP API. None has an API Gateway authorizer: each function
 * checks the tenant key itself, and `why` says so to cdk-nag per route.
 */
export function mountRoutes<R extends HttpRoute>(
  api: apigwv2.HttpApi,
  integration: HttpLambdaIntegration,
  routes: readonly R[],
  why: (route: R) => string,
): void {
  for (const r of routes) {
    const [route] = api.addRoutes({ path: r.path, methods: [apigwv2.HttpMethod[r.method]], integration });
    if (route !== undefined) acknowledge(route, 'AwsSolutions-APIG4', why(r));
  }
}
