import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * An HTTP endpoint on 127.0.0.1 standing in for an AWS service that has no local emulator here
 * (EventBridge, SNS, Secrets Manager): the real SDK client is pointed at it, so the request it
 * records is exactly what the SDK would send to AWS. Tests using it say "mocked <service>".
 */
export interface FakeAwsEndpoint {
  readonly url: string;
  readonly requests: { readonly headers: IncomingHttpHeaders; readonly body: string }[];
  close(): Promise<void>;
}

export async function startFakeAwsEndpoint(
  answer: (request: { headers: IncomingHttpHeaders; body: string }) => {
    status?: number;
    contentType?: string;
    body: string;
  },
): Promise<FakeAwsEndpoint> {
  const requests: FakeAwsEndpoint['requests'] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = { headers: req.headers, body: Buffer.concat(chunks).toString('utf8') };
      requests.push(request);
      const out = answer(request);
      res.writeHead(out.status ?? 200, { 'content-type': out.contentType ?? 'application/x-amz-json-1.1' });
      res.end(out.body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Static credentials and a region, so SDK clients sign requests without an AWS account. */
export const FAKE_AWS = {
  region: 'eu-west-1',
  credentials: { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' },
} as const;
