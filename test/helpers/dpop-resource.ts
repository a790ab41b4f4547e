import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { calculateJwkThumbprint, EmbeddedJWK, type JWK, jwtVerify } from 'jose';
import { fetch } from 'undici';
import type { OidcServer } from './oidc-provider.js';

export interface DpopResource {
  /** The API base: `http://127.0.0.1:<port>/api/`. */
  url: string;
  /** How many `use_dpop_nonce` challenges it answered. */
  challenges: number;
  /** The public key of every proof it accepted. */
  keys: JWK[];
  /** Why it refused each request it refused. */
  refusals: string[];
  /** Starts asking for a new nonce (as a server rotating its nonces does). */
  rotateNonce(): void;
  /** While set, every request is challenged with a nonce never seen before (a broken server). */
  alwaysChallenge: boolean;
  close(): Promise<void>;
}

const ALGORITHMS = ['ES256', 'ES384', 'EdDSA', 'Ed25519', 'PS256', 'RS256'];

/**
 * A resource server that accepts DPoP-bound tokens only, as RFC 9449 §7 has it: the
 * `Authorization: DPoP` scheme, a proof signed by the key it embeds (`typ` dpop+jwt) for this
 * method and URL, `ath` the token's hash, a recent `iat`, a `jti` never seen, and the server's
 * current nonce (else a `use_dpop_nonce` challenge, §9). The token is introspected at the
 * authorization server, and its `cnf.jkt` must be the proof key's thumbprint.
 */
export async function startDpopResource(op: OidcServer): Promise<DpopResource> {
  let nonce = randomBytes(12).toString('base64url');
  const seen = new Set<string>();
  const state = { challenges: 0, keys: [] as JWK[], refusals: [] as string[] };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      void (async () => {
        const refuse = (why: string, headers: Record<string, string> = {}) => {
          state.refusals.push(why);
          res
            .writeHead(401, {
              'www-authenticate': `DPoP error="invalid_token", error_description="${why}", algs="ES256"`,
              'content-type': 'application/json',
              ...headers,
            })
            .end(JSON.stringify({ error: 'invalid_token', why }));
        };
        const auth = req.headers.authorization ?? '';
        const proof = req.headers['dpop'];
        const m = /^DPoP ([A-Za-z0-9\-._~+/]+=*)$/.exec(auth);
        if (!m) return refuse(`not the DPoP scheme: ${auth.split(' ')[0]}`);
        if (typeof proof !== 'string') return refuse('no DPoP proof');
        const token = m[1] as string;
        let payload: Record<string, unknown>;
        let header: { jwk?: JWK };
        try {
          ({ payload, protectedHeader: header } = await jwtVerify(proof, EmbeddedJWK, {
            typ: 'dpop+jwt',
            algorithms: ALGORITHMS,
          }));
        } catch (err) {
          return refuse(`proof does not verify: ${(err as Error).message}`);
        }
        if ((header.jwk as Record<string, unknown>)['d'] !== undefined) return refuse('private key in proof');
        const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
        if (payload['htm'] !== req.method) return refuse('htm');
        if (payload['htu'] !== `${url.origin}${url.pathname}`) return refuse(`htu ${String(payload['htu'])}`);
        const ath = createHash('sha256').update(token).digest('base64url');
        if (payload['ath'] !== ath) return refuse('ath');
        if (Math.abs(Number(payload['iat']) - Date.now() / 1000) > 60) return refuse('iat');
        if (typeof payload['jti'] !== 'string' || seen.has(payload['jti'])) return refuse('jti replayed');
        seen.add(payload['jti']);
        if (api.alwaysChallenge) nonce = randomBytes(12).toString('base64url');
        if (payload['nonce'] !== nonce) {
          state.challenges++;
          res
            .writeHead(401, {
              'www-authenticate':
                'DPoP error="use_dpop_nonce", error_description="Resource server requires nonce in DPoP proof"',
              'dpop-nonce': nonce,
            })
            .end();
          return;
        }
        const introspected = await fetch(`${op.issuer}/token/introspection`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${op.client.clientId}:${op.client.clientSecret}`).toString('base64')}`,
            'content-type': 'application/x-www-form-urlencoded',
          },
          body: new URLSearchParams({ token }).toString(),
        });
        const info = (await introspected.json()) as {
          active?: boolean;
          sub?: string;
          cnf?: { jkt?: string };
        };
        if (!info.active) return refuse('token not active');
        const jkt = await calculateJwkThumbprint(header.jwk as JWK);
        if (info.cnf?.jkt !== jkt) return refuse('token not bound to the proof key');
        state.keys.push(header.jwk as JWK);
        res.writeHead(200, { 'content-type': 'application/json' }).end(
          JSON.stringify({
            sub: info.sub,
            jkt,
            method: req.method,
            bytes: Buffer.concat(chunks).length,
          }),
        );
      })().catch((err: Error) => res.writeHead(500).end(err.message));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const api: DpopResource = {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`,
    get challenges() {
      return state.challenges;
    },
    keys: state.keys,
    refusals: state.refusals,
    rotateNonce() {
      nonce = randomBytes(12).toString('base64url');
    },
    alwaysChallenge: false,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return api;
}
