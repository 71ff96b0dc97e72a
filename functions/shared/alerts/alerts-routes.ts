/**
 * The alerts API's routes (/v1/alerts/...): API Gateway (CDK), local mode's gateway and the OpenAPI
 * document mount exactly these. Reads need the `query` scope, writes the `admin` scope.
 */

export type AlertsMethod = 'GET' | 'POST' | 'PUT' | 'DELETE';

export type AlertsOperation =
  | 'listRules'
  | 'createRule'
  | 'getRule'
  | 'updateRule'
  | 'deleteRule'
  | 'ruleVersions'
  | 'listChannels'
  | 'createChannel'
  | 'getChannel'
  | 'updateChannel'
  | 'deleteChannel'
  | 'channelVersions'
  | 'listSilences'
  | 'createSilence'
  | 'getSilence'
  | 'expireSilence'
  | 'alertState'
  | 'alertHistory';

export interface AlertsRoute {
  readonly operationId: AlertsOperation;
  readonly method: AlertsMethod;
  readonly path: string;
  readonly scope: 'query' | 'admin';
  readonly summary: string;
}

const r = (
  operationId: AlertsOperation,
  method: AlertsMethod,
  path: string,
  summary: string,
): AlertsRoute => ({ operationId, method, path, scope: method === 'GET' ? 'query' : 'admin', summary });

export const ALERTS_ROUTES: readonly AlertsRoute[] = [
  r('listRules', 'GET', '/v1/alerts/rules', 'Every rule of the tenant, from files and from the API.'),
  r('createRule', 'POST', '/v1/alerts/rules', 'Create a rule (the rule file schema; 400 names the field).'),
  r('getRule', 'GET', '/v1/alerts/rules/{id}', 'One rule.'),
  r(
    'updateRule',
    'PUT',
    '/v1/alerts/rules/{id}',
    'Replace a rule (a new version; If-Match: <version> optional).',
  ),
  r('deleteRule', 'DELETE', '/v1/alerts/rules/{id}', 'Delete a rule (kept as a version).'),
  r('ruleVersions', 'GET', '/v1/alerts/rules/{id}/versions', 'Every version of a rule, newest first.'),
  r('listChannels', 'GET', '/v1/alerts/channels', 'Every channel of the tenant (secrets shown as "set").'),
  r(
    'createChannel',
    'POST',
    '/v1/alerts/channels',
    'Create a channel; its secret is written once, never returned.',
  ),
  r('getChannel', 'GET', '/v1/alerts/channels/{id}', 'One channel (its secret shown as "set").'),
  r(
    'updateChannel',
    'PUT',
    '/v1/alerts/channels/{id}',
    'Replace a channel; omit `secret` to keep the stored one.',
  ),
  r('deleteChannel', 'DELETE', '/v1/alerts/channels/{id}', 'Delete a channel no API rule uses.'),
  r(
    'channelVersions',
    'GET',
    '/v1/alerts/channels/{id}/versions',
    'Every version of a channel, newest first.',
  ),
  r('listSilences', 'GET', '/v1/alerts/silences', 'Silences in force or to come (`all=true`: expired too).'),
  r(
    'createSilence',
    'POST',
    '/v1/alerts/silences',
    'Mute a rule or the alerts matching labels for a period.',
  ),
  r('getSilence', 'GET', '/v1/alerts/silences/{id}', 'One silence.'),
  r('expireSilence', 'DELETE', '/v1/alerts/silences/{id}', 'End a silence now (kept, with expiredAt).'),
  r('alertState', 'GET', '/v1/alerts/state', 'The current state of every series of every rule.'),
  r(
    'alertHistory',
    'GET',
    '/v1/alerts/history',
    'State changes, newest first (from, to, ruleId, limit, cursor).',
  ),
];

function segments(path: string): string[] {
  return path.split('/').filter((s) => s.length > 0);
}

/** The routes of a path (one per method) and its path parameters; empty when no route has the path. */
export function matchAlertsPath(path: string): {
  routes: AlertsRoute[];
  pathParameters: Record<string, string>;
} {
  const at = path.indexOf('/v1/alerts/');
  const actual = segments(at >= 0 ? path.slice(at) : path);
  const routes: AlertsRoute[] = [];
  let pathParameters: Record<string, string> = {};
  for (const route of ALERTS_ROUTES) {
    const pattern = segments(route.path);
    if (pattern.length !== actual.length) continue;
    const params: Record<string, string> = {};
    let ok = true;
    for (let i = 0; i < pattern.length && ok; i++) {
      const p = pattern[i]!;
      const a = actual[i]!;
      if (p.startsWith('{') && p.endsWith('}')) {
        try {
          params[p.slice(1, -1)] = decodeURIComponent(a);
        } catch {
          ok = false;
        }
      } else ok = p === a;
    }
    if (ok) {
      routes.push(route);
      pathParameters = params;
    }
  }
  return { routes, pathParameters };
}
