import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A webhook endpoint on loopback that answers 200 and keeps every body it received, in order. */
export interface HookReceiver {
  url: string;
  port: number;
  bodies: string[];
  close(): Promise<void>;
}

export async function hookReceiver(): Promise<HookReceiver> {
  const bodies: string[] = [];
  const hooks = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => {
      body += d;
    });
    req.on('end', () => {
      bodies.push(body);
      res.writeHead(200).end('ok');
    });
  });
  await new Promise<void>((ok) => hooks.listen(0, '127.0.0.1', ok));
  const port = (hooks.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks`,
    port,
    bodies,
    close: () => new Promise<void>((ok) => hooks.close(() => ok())),
  };
}
