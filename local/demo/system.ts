import { type Attributes, SpanKind } from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_PATH,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import { between, chance, hexId, latencyMs, pick, type Random } from './random.js';

/**
 * The simulated system: a small shop. `frontend` serves pages and the checkout API, `checkout`
 * places orders, reserving stock in `inventory` and charging through `payments`, which calls an
 * external payment gateway. Each request becomes a plan (a tree of spans with their times,
 * attributes, logs and errors), worked out before anything is emitted so the whole trace can be
 * placed to end "now", as if it had just finished.
 *
 * Error and latency rates are chosen so that about 2-3% of traces carry an error and a few
 * percent have a slow span (a slow query, a sluggish payment gateway): enough to find in the
 * query API, not so many that the demo looks broken.
 */

export const SERVICES = ['frontend', 'checkout', 'payments', 'inventory'] as const;
export type ServiceName = (typeof SERVICES)[number];

export interface ServiceInfo {
  readonly version: string;
  /** Stands in for the host the service runs on (resource attribute host.name). */
  readonly host: string;
  /** The queue whose depth the service reports as a gauge. */
  readonly queue: string;
}

export const SERVICE_INFO: Readonly<Record<ServiceName, ServiceInfo>> = {
  frontend: { version: '2.14.0', host: 'web-7f9c4-x2lqp', queue: 'render-jobs' },
  checkout: { version: '1.9.3', host: 'checkout-5d8b6-kq7wz', queue: 'order-events' },
  payments: { version: '3.2.1', host: 'payments-6c7d9-m4tnb', queue: 'settlements' },
  inventory: { version: '1.22.0', host: 'inventory-84f5c-r8vhd', queue: 'restock-requests' },
};

export type Severity = 'INFO' | 'WARN' | 'ERROR';

export interface ExceptionPlan {
  readonly type: string;
  readonly message: string;
  readonly stacktrace: string;
}

export interface LogPlan {
  /** Where in the span the record is written. */
  readonly at: 'start' | 'end';
  readonly severity: Severity;
  readonly body: string;
  readonly attributes?: Attributes;
  readonly exception?: ExceptionPlan;
}

/** What a server span contributes to the request metrics. */
export interface RequestPlan {
  readonly method: string;
  readonly route: string;
  readonly status: number;
}

export interface SpanPlan {
  readonly service: ServiceName;
  readonly name: string;
  readonly kind: SpanKind;
  /** Start, in milliseconds after the parent span's start (0 for the root). */
  offsetMs: number;
  readonly durationMs: number;
  readonly attributes: Attributes;
  /** Status ERROR with this message; with `exception`, also an exception event. */
  readonly error?: { readonly message: string; readonly exception?: ExceptionPlan };
  readonly logs: readonly LogPlan[];
  readonly children: readonly SpanPlan[];
  /** Set on server spans: counted in the request counter, error counter and duration histogram. */
  readonly request?: RequestPlan;
  /** True when the span took far longer than usual (the long tail). */
  readonly slow?: boolean;
}

export interface TracePlan {
  /** Which kind of user request this is, for logs and tests. */
  readonly flow: 'product' | 'cart' | 'checkout';
  readonly root: SpanPlan;
}

// ---- building blocks ----

interface SpanInput {
  readonly service: ServiceName;
  readonly name: string;
  readonly kind: SpanKind;
  readonly attributes: Attributes;
  /** Time the span spends on its own, split around its children. */
  readonly selfMs: number;
  readonly children?: readonly SpanPlan[];
  readonly error?: SpanPlan['error'];
  readonly logs?: readonly LogPlan[];
  readonly request?: RequestPlan;
  readonly slow?: boolean;
}

/** Lays the children out one after another (a third of the own time first) and sizes the span. */
function span(input: SpanInput): SpanPlan {
  let cursor = input.selfMs / 3;
  const children = (input.children ?? []).map((child) => {
    child.offsetMs += cursor;
    cursor = child.offsetMs + child.durationMs + 0.05;
    return child;
  });
  const plan: SpanPlan = {
    service: input.service,
    name: input.name,
    kind: input.kind,
    offsetMs: 0,
    durationMs: cursor + (input.selfMs * 2) / 3,
    attributes: input.attributes,
    logs: input.logs ?? [],
    children,
    ...(input.error ? { error: input.error } : {}),
    ...(input.request ? { request: input.request } : {}),
    ...(input.slow ? { slow: true } : {}),
  };
  return plan;
}

function exception(type: string, message: string, frames: readonly string[]): ExceptionPlan {
  return {
    type,
    message,
    stacktrace: [`${type}: ${message}`, ...frames.map((f) => `    at ${f}`)].join('\n'),
  };
}

const isServerError = (status: number) => status >= 500;

interface ServerInput {
  readonly service: ServiceName;
  readonly method: string;
  readonly route: string;
  readonly path: string;
  readonly status: number;
  readonly selfMs: number;
  readonly children?: readonly SpanPlan[];
  readonly logs?: readonly LogPlan[];
  readonly exception?: ExceptionPlan;
  readonly attributes?: Attributes;
}

/** An HTTP server span; 5xx marks it as an error, 4xx does not (semantic conventions). */
function server(input: ServerInput): SpanPlan {
  const failed = isServerError(input.status);
  return span({
    service: input.service,
    name: `${input.method} ${input.route}`,
    kind: SpanKind.SERVER,
    selfMs: input.selfMs,
    attributes: {
      [ATTR_HTTP_REQUEST_METHOD]: input.method,
      [ATTR_HTTP_ROUTE]: input.route,
      [ATTR_URL_PATH]: input.path,
      [ATTR_URL_SCHEME]: 'http',
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: input.status,
      ...(failed ? { [ATTR_ERROR_TYPE]: String(input.status) } : {}),
      ...input.attributes,
    },
    ...(input.children ? { children: input.children } : {}),
    ...(input.logs ? { logs: input.logs } : {}),
    ...(failed
      ? {
          error: {
            message: input.exception?.message ?? `HTTP ${input.status}`,
            ...(input.exception ? { exception: input.exception } : {}),
          },
        }
      : {}),
    request: { method: input.method, route: input.route, status: input.status },
  });
}

/**
 * A call from one service to another: an HTTP client span around the callee's server span,
 * the difference being network time. Client spans mark any 4xx/5xx as an error.
 */
function call(random: Random, caller: ServiceName, callee: SpanPlan, method: string, path: string): SpanPlan {
  const host = callee.service;
  const status = Number(callee.attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] ?? 200);
  const networkMs = between(random, 0.3, 2.5);
  callee.offsetMs = networkMs / 2;
  const client: SpanPlan = {
    service: caller,
    name: method,
    kind: SpanKind.CLIENT,
    offsetMs: 0,
    durationMs: callee.durationMs + networkMs,
    attributes: {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: host,
      [ATTR_SERVER_PORT]: 8080,
      [ATTR_URL_FULL]: `http://${host}:8080${path}`,
      [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
      ...(status >= 400 ? { [ATTR_ERROR_TYPE]: String(status) } : {}),
    },
    logs: [],
    children: [callee],
    ...(status >= 400 ? { error: { message: `HTTP ${status}` } } : {}),
  };
  return client;
}

interface DbInput {
  readonly service: ServiceName;
  readonly system: string;
  readonly namespace: string;
  readonly operation: string;
  readonly collection?: string;
  readonly query: string;
  readonly host: string;
  readonly medianMs: number;
  /** Probability of a slow run (a missed index, lock wait): 20-60x the usual time. */
  readonly slowChance: number;
  readonly failure?: { readonly statusCode: string; readonly exception: ExceptionPlan };
}

function dbCall(random: Random, input: DbInput): SpanPlan {
  const slow = chance(random, input.slowChance);
  const ms = latencyMs(random, input.medianMs, 0.6) * (slow ? between(random, 20, 60) : 1);
  const logs: LogPlan[] = [];
  if (slow && !input.failure) {
    logs.push({
      at: 'end',
      severity: 'WARN',
      body: `slow query: ${[input.operation, input.collection].filter(Boolean).join(' ')} took ${Math.round(ms)} ms`,
      attributes: { [ATTR_DB_QUERY_TEXT]: input.query, 'db.duration_ms': Math.round(ms) },
    });
  }
  return span({
    service: input.service,
    name: input.collection ? `${input.operation} ${input.collection}` : input.operation,
    kind: SpanKind.CLIENT,
    selfMs: ms,
    attributes: {
      [ATTR_DB_SYSTEM_NAME]: input.system,
      [ATTR_DB_NAMESPACE]: input.namespace,
      [ATTR_DB_OPERATION_NAME]: input.operation,
      ...(input.collection ? { [ATTR_DB_COLLECTION_NAME]: input.collection } : {}),
      [ATTR_DB_QUERY_TEXT]: input.query,
      [ATTR_SERVER_ADDRESS]: input.host,
      ...(input.failure
        ? {
            [ATTR_DB_RESPONSE_STATUS_CODE]: input.failure.statusCode,
            [ATTR_ERROR_TYPE]: input.failure.exception.type,
          }
        : {}),
    },
    logs,
    ...(input.failure
      ? { error: { message: input.failure.exception.message, exception: input.failure.exception } }
      : {}),
    slow,
  });
}

const SKUS = ['SKU-1042', 'SKU-2210', 'SKU-3307', 'SKU-4471', 'SKU-5126', 'SKU-6083', 'SKU-7719', 'SKU-8845'];
const USER_AGENTS = [
  'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36',
  'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148',
];

function visitor(random: Random): Attributes {
  return {
    [ATTR_USER_AGENT_ORIGINAL]: pick(random, USER_AGENTS),
    [ATTR_CLIENT_ADDRESS]: `203.0.113.${Math.floor(between(random, 1, 255))}`,
  };
}

// ---- the three kinds of user request ----

/** GET /api/products/{id}: frontend asks inventory for stock, inventory reads Postgres. */
function productView(random: Random): TracePlan {
  const sku = pick(random, SKUS);
  const unknownSku = chance(random, 0.015);
  const dbDown = !unknownSku && chance(random, 0.005);
  const select = dbCall(random, {
    service: 'inventory',
    system: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    namespace: 'inventory',
    operation: 'SELECT',
    collection: 'stock',
    query: 'SELECT sku, quantity, warehouse FROM stock WHERE sku = $1',
    host: 'inventory-db.internal',
    medianMs: 1.8,
    slowChance: 0.01,
    ...(dbDown
      ? {
          failure: {
            statusCode: '57P01',
            exception: exception('DatabaseError', 'terminating connection due to administrator command', [
              'Connection.parseE (node_modules/pg/lib/connection.js:616:13)',
              'StockRepository.find (src/stock/repository.ts:41:18)',
              'StockController.get (src/stock/controller.ts:22:25)',
            ]),
          },
        }
      : {}),
  });
  const stockStatus = dbDown ? 503 : unknownSku ? 404 : 200;
  const stock = server({
    service: 'inventory',
    method: 'GET',
    route: '/v1/stock/{sku}',
    path: `/v1/stock/${sku}`,
    status: stockStatus,
    selfMs: latencyMs(random, 0.8),
    children: [select],
    logs: dbDown
      ? [{ at: 'end', severity: 'ERROR', body: `stock lookup failed for ${sku}: database unavailable` }]
      : unknownSku
        ? [{ at: 'end', severity: 'WARN', body: `unknown sku ${sku}`, attributes: { 'product.sku': sku } }]
        : [],
  });
  const status = dbDown ? 502 : unknownSku ? 404 : 200;
  const root = server({
    service: 'frontend',
    method: 'GET',
    route: '/api/products/{id}',
    path: `/api/products/${sku}`,
    status,
    selfMs: latencyMs(random, 4),
    children: [call(random, 'frontend', stock, 'GET', `/v1/stock/${sku}`)],
    attributes: visitor(random),
    logs: [
      status === 200
        ? {
            at: 'end',
            severity: 'INFO',
            body: `rendered product page ${sku}`,
            attributes: { 'product.sku': sku },
          }
        : status === 404
          ? {
              at: 'end',
              severity: 'INFO',
              body: `product ${sku} not found`,
              attributes: { 'product.sku': sku },
            }
          : { at: 'end', severity: 'ERROR', body: `product page ${sku} failed: inventory answered 503` },
    ],
  });
  return { flow: 'product', root };
}

/** GET /api/cart: frontend reads the cart from Redis. */
function cartView(random: Random): TracePlan {
  const cartId = hexId(random, 12);
  const timeout = chance(random, 0.01);
  const timeoutError = exception('TimeoutError', 'Command timed out after 500ms', [
    'Timeout._onTimeout (node_modules/redis/dist/lib/client/index.js:412:23)',
    'CartStore.load (src/cart/store.ts:28:31)',
    'CartHandler.get (src/cart/handler.ts:15:20)',
  ]);
  const redis = dbCall(random, {
    service: 'frontend',
    system: 'redis',
    namespace: '0',
    operation: 'HGETALL',
    query: `HGETALL cart:${cartId}`,
    host: 'cart-cache.internal',
    medianMs: timeout ? 500 : 0.6,
    slowChance: timeout ? 0 : 0.01,
    ...(timeout ? { failure: { statusCode: 'TIMEOUT', exception: timeoutError } } : {}),
  });
  const root = server({
    service: 'frontend',
    method: 'GET',
    route: '/api/cart',
    path: '/api/cart',
    status: timeout ? 500 : 200,
    selfMs: latencyMs(random, 2.5),
    children: [redis],
    attributes: visitor(random),
    ...(timeout
      ? {
          exception: timeoutError,
          logs: [
            {
              at: 'end',
              severity: 'ERROR',
              body: `could not load cart ${cartId}`,
              attributes: { 'cart.id': cartId },
              exception: timeoutError,
            },
          ],
        }
      : {
          logs: [
            {
              at: 'end',
              severity: 'INFO',
              body: `loaded cart ${cartId}`,
              attributes: { 'cart.id': cartId, 'cart.items': Math.floor(between(random, 0, 6)) },
            },
          ],
        }),
  });
  return { flow: 'cart', root };
}

/**
 * POST /api/checkout: frontend → checkout, which validates the cart, reserves stock in
 * inventory (Postgres UPDATE), charges through payments (fraud check, then the external
 * gateway) and records the order (Postgres INSERT). A deadlock in inventory or a gateway
 * timeout in payments fails the order and the error travels back up the chain.
 */
function checkoutFlow(random: Random): TracePlan {
  const sku = pick(random, SKUS);
  const quantity = Math.ceil(between(random, 0, 3));
  const amount = Math.round(between(random, 12, 420) * 100) / 100;
  const orderId = `ord_${hexId(random, 10)}`;
  const deadlock = chance(random, 0.02);
  const gatewayTimeout = !deadlock && chance(random, 0.04);
  const gatewaySlow = !deadlock && !gatewayTimeout && chance(random, 0.03);

  const deadlockError = exception('DatabaseError', 'deadlock detected', [
    'Connection.parseE (node_modules/pg/lib/connection.js:616:13)',
    'StockRepository.reserve (src/stock/repository.ts:77:11)',
    'ReservationController.create (src/reservations/controller.ts:34:29)',
  ]);
  const update = dbCall(random, {
    service: 'inventory',
    system: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
    namespace: 'inventory',
    operation: 'UPDATE',
    collection: 'stock',
    query: 'UPDATE stock SET quantity = quantity - $1 WHERE sku = $2 AND quantity >= $1',
    host: 'inventory-db.internal',
    medianMs: 3.5,
    slowChance: 0.015,
    ...(deadlock ? { failure: { statusCode: '40P01', exception: deadlockError } } : {}),
  });
  const reservation = server({
    service: 'inventory',
    method: 'POST',
    route: '/v1/reservations',
    path: '/v1/reservations',
    status: deadlock ? 503 : 201,
    selfMs: latencyMs(random, 1.2),
    children: [update],
    ...(deadlock ? { exception: deadlockError } : {}),
    logs: [
      deadlock
        ? { at: 'end', severity: 'ERROR', body: `reservation of ${sku} failed`, exception: deadlockError }
        : {
            at: 'end',
            severity: 'INFO',
            body: `reserved ${quantity} x ${sku}`,
            attributes: { 'product.sku': sku, 'order.quantity': quantity },
          },
    ],
  });

  const checkoutChildren: SpanPlan[] = [
    span({
      service: 'checkout',
      name: 'validate cart',
      kind: SpanKind.INTERNAL,
      selfMs: latencyMs(random, 0.7),
      attributes: { 'cart.items': quantity },
    }),
    call(random, 'checkout', reservation, 'POST', '/v1/reservations'),
  ];

  let checkoutStatus = 201;
  let checkoutException: ExceptionPlan | undefined;
  if (deadlock) {
    checkoutStatus = 503;
  } else {
    const gatewayError = exception('GatewayTimeoutError', 'payment gateway did not answer within 5000 ms', [
      'PaymentGatewayClient.charge (src/gateway/client.ts:58:15)',
      'ChargeService.capture (src/charges/service.ts:42:22)',
    ]);
    const gatewayMs = gatewayTimeout
      ? 5000
      : latencyMs(random, 180, 0.35) * (gatewaySlow ? between(random, 8, 20) : 1);
    const gateway = span({
      service: 'payments',
      name: 'POST',
      kind: SpanKind.CLIENT,
      selfMs: gatewayMs,
      attributes: {
        [ATTR_HTTP_REQUEST_METHOD]: 'POST',
        [ATTR_SERVER_ADDRESS]: 'api.payment-gateway.example',
        [ATTR_SERVER_PORT]: 443,
        [ATTR_URL_FULL]: 'https://api.payment-gateway.example/v2/charges',
        ...(gatewayTimeout
          ? { [ATTR_ERROR_TYPE]: 'GatewayTimeoutError' }
          : { [ATTR_HTTP_RESPONSE_STATUS_CODE]: 200 }),
      },
      ...(gatewayTimeout ? { error: { message: gatewayError.message, exception: gatewayError } } : {}),
      logs: gatewaySlow
        ? [
            {
              at: 'end',
              severity: 'WARN',
              body: `payment gateway slow: ${Math.round(gatewayMs)} ms`,
              attributes: { 'gateway.duration_ms': Math.round(gatewayMs) },
            },
          ]
        : [],
      slow: gatewaySlow,
    });
    const charge = server({
      service: 'payments',
      method: 'POST',
      route: '/v1/charges',
      path: '/v1/charges',
      status: gatewayTimeout ? 504 : 201,
      selfMs: latencyMs(random, 1.5),
      children: [
        span({
          service: 'payments',
          name: 'fraud score',
          kind: SpanKind.INTERNAL,
          selfMs: latencyMs(random, 6, 0.4),
          attributes: { 'fraud.score': Math.round(between(random, 0, 35)) },
        }),
        gateway,
      ],
      ...(gatewayTimeout ? { exception: gatewayError } : {}),
      attributes: { 'payment.amount': amount, 'payment.currency': 'EUR' },
      logs: [
        gatewayTimeout
          ? { at: 'end', severity: 'ERROR', body: `charge for ${orderId} failed`, exception: gatewayError }
          : {
              at: 'end',
              severity: 'INFO',
              body: `charge captured for ${orderId}`,
              attributes: { 'order.id': orderId, 'payment.amount': amount },
            },
      ],
    });
    checkoutChildren.push(call(random, 'checkout', charge, 'POST', '/v1/charges'));
    if (gatewayTimeout) {
      checkoutStatus = 502;
    } else {
      checkoutChildren.push(
        dbCall(random, {
          service: 'checkout',
          system: DB_SYSTEM_NAME_VALUE_POSTGRESQL,
          namespace: 'orders',
          operation: 'INSERT',
          collection: 'orders',
          query: 'INSERT INTO orders (id, sku, quantity, amount, currency) VALUES ($1, $2, $3, $4, $5)',
          host: 'orders-db.internal',
          medianMs: 2.5,
          slowChance: 0.01,
        }),
      );
    }
  }
  if (checkoutStatus !== 201) {
    checkoutException = exception(
      'UpstreamError',
      deadlock ? 'inventory answered 503' : 'payments answered 504',
      [
        'OrderService.place (src/orders/service.ts:88:13)',
        'OrdersController.create (src/orders/controller.ts:19:27)',
      ],
    );
  }
  const order = server({
    service: 'checkout',
    method: 'POST',
    route: '/v1/orders',
    path: '/v1/orders',
    status: checkoutStatus,
    selfMs: latencyMs(random, 2),
    children: checkoutChildren,
    ...(checkoutException ? { exception: checkoutException } : {}),
    attributes: { 'order.id': orderId },
    logs: [
      {
        at: 'start',
        severity: 'INFO',
        body: `placing order ${orderId}`,
        attributes: { 'order.id': orderId },
      },
      checkoutStatus === 201
        ? {
            at: 'end',
            severity: 'INFO',
            body: `order ${orderId} placed`,
            attributes: { 'order.id': orderId, 'order.amount': amount, 'product.sku': sku },
          }
        : {
            at: 'end',
            severity: 'ERROR',
            body: `order ${orderId} failed`,
            attributes: { 'order.id': orderId },
            ...(checkoutException ? { exception: checkoutException } : {}),
          },
    ],
  });
  const frontendStatus = checkoutStatus === 201 ? 200 : 502;
  const root = server({
    service: 'frontend',
    method: 'POST',
    route: '/api/checkout',
    path: '/api/checkout',
    status: frontendStatus,
    selfMs: latencyMs(random, 5),
    children: [call(random, 'frontend', order, 'POST', '/v1/orders')],
    attributes: visitor(random),
    logs:
      frontendStatus === 200
        ? []
        : [{ at: 'end', severity: 'WARN', body: `checkout failed for order ${orderId}; showing retry page` }],
  });
  return { flow: 'checkout', root };
}

/** One user request: half product pages, a third cart views, the rest checkouts. */
export function planRequest(random: Random): TracePlan {
  const r = random();
  if (r < 0.5) return productView(random);
  if (r < 0.8) return cartView(random);
  return checkoutFlow(random);
}

export function countSpans(plan: SpanPlan): number {
  let n = 1;
  for (const child of plan.children) n += countSpans(child);
  return n;
}
