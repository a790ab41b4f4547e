import type { Baton } from '../../core/baton.js';
import type { ConnectionInfo } from '../../core/connection-info.js';
import { BatonError, ReauthorizationRequired } from '../../errors.js';
import { fetchServerMetadata } from '../../protocol/discovery.js';
import type { ServerMetadata } from '../../protocol/issuer.js';
import {
  fetchResourceMetadata,
  probeServer,
  type ResourceMetadata,
  resourceMetadataUrls,
} from '../../protocol/resource-metadata.js';
import { mcpIssuerOf } from '../../providers/mcp.js';
import { humanDuration } from '../format.js';
import { cliRemediation, tidy } from '../runtime.js';

/**
 * `baton doctor` on an MCP connection (README, "Agents and MCP"): the discovery chain read again
 * from the network, link by link, from the stored server to its token (docs/architecture.md,
 * "MCP"). Each check names its link; the first that fails ends the walk, and the links after it
 * are not checked (they depend on it).
 */

export type DoctorLink = 'server' | 'resource_metadata' | 'authorization_server' | 'iss' | 'client' | 'token';

export interface LinkCheck {
  check: string;
  level: 'ok' | 'warn' | 'fail';
  link: DoctorLink;
  message: string;
  remediation?: string;
}

const why = (err: unknown) =>
  err instanceof BatonError ? tidy(err.message) : String((err as Error)?.message ?? err);

/** Runs the links in order; returns whether the token link was reached and passed. */
export async function mcpChain(
  baton: Baton,
  info: ConnectionInfo,
  add: (c: LinkCheck) => void,
): Promise<boolean> {
  const id = info.id;
  const serverUrl = info.params['resource'] ?? '';
  const issuer = mcpIssuerOf(info.provider) ?? '';
  const reconnect = `baton reconnect ${id}`;
  const anew = `baton mcp connect ${serverUrl} --id ${id} --replace`;
  const check = (link: DoctorLink) => `mcp ${id} ${link}`;
  const fail = (link: DoctorLink, message: string, remediation: string): false => {
    add({ check: check(link), level: 'fail', link, message, remediation });
    return false;
  };

  // 1. The server, asked without a token: 401, naming its resource metadata.
  let metadataUrl: string | undefined;
  try {
    const probe = await probeServer(serverUrl);
    metadataUrl = probe.challenge?.resourceMetadata;
    if (probe.status === 401 && metadataUrl)
      add({
        check: check('server'),
        level: 'ok',
        link: 'server',
        message: `${serverUrl} answers 401 without a token and names its resource metadata.`,
      });
    else
      add({
        check: check('server'),
        level: 'warn',
        link: 'server',
        message:
          probe.status === 401
            ? `${serverUrl} answers 401 without naming resource_metadata: Baton falls back to the well-known URLs (RFC 9728 §3.1).`
            : `${serverUrl} answered HTTP ${probe.status} without a token, where an MCP server that needs authorization answers 401.`,
        remediation:
          'Nothing to do while the next link passes; the server’s operator can name resource_metadata in its WWW-Authenticate (RFC 9728 §5.1).',
      });
  } catch (err) {
    return fail(
      'server',
      why(err),
      `Check that the MCP server at ${serverUrl} is up and reachable from here, then run \`baton doctor ${id}\` again.`,
    );
  }

  // 2. Its resource metadata: found, naming this resource and the connection's authorization server.
  let prm: ResourceMetadata | null = null;
  const tried: string[] = [];
  try {
    for (const url of metadataUrl ? [metadataUrl] : resourceMetadataUrls(serverUrl)) {
      tried.push(url);
      prm = await fetchResourceMetadata(url, serverUrl);
      if (prm) break;
    }
  } catch (err) {
    return fail('resource_metadata', why(err), err instanceof BatonError ? cliRemediation(err) : anew);
  }
  if (!prm)
    return fail(
      'resource_metadata',
      `The MCP server publishes no resource metadata (HTTP 404 at ${tried.join(' and ')}): its authorization server cannot be found from it.`,
      `The server’s operator must publish its RFC 9728 metadata again; until then the stored connection keeps working (\`baton token ${id}\`), but it cannot be authorized again.`,
    );
  if (prm.resource !== serverUrl)
    return fail(
      'resource_metadata',
      `${prm.source} now names the resource ${prm.resource}; the connection's tokens are for ${serverUrl}.`,
      `Connect to the server as it is now: ${anew}`,
    );
  if (!prm.authorizationServers.includes(issuer))
    return fail(
      'resource_metadata',
      `${prm.source} no longer lists ${issuer}, where the connection was authorized (it lists ${prm.authorizationServers.join(', ') || 'none'}).`,
      `Connect to the server's authorization server as it is now: ${anew}`,
    );
  add({
    check: check('resource_metadata'),
    level: 'ok',
    link: 'resource_metadata',
    message: `${prm.source}: resource ${prm.resource}, authorization server ${issuer}.`,
  });

  // 3. The authorization server's metadata, read from it now (never a stored copy).
  let metadata: ServerMetadata;
  try {
    metadata = (await fetchServerMetadata(issuer, info.provider)).metadata;
  } catch (err) {
    return fail(
      'authorization_server',
      `The authorization server ${issuer} does not answer with its metadata: ${why(err)}`,
      `Check that ${issuer} is up (its operator's status page); the connection's refreshes fail until it answers. Run \`baton doctor ${id}\` again then.`,
    );
  }
  if (!metadata.codeChallengeMethodsSupported.includes('S256'))
    return fail(
      'authorization_server',
      `${metadata.source} no longer lists S256 in code_challenge_methods_supported, and an MCP client must not authorize without PKCE.`,
      'Ask the authorization server’s operator to support PKCE with S256.',
    );
  add({
    check: check('authorization_server'),
    level: 'ok',
    link: 'authorization_server',
    message: `${metadata.source}: token endpoint ${metadata.tokenEndpoint ?? '—'}, PKCE S256${metadata.registrationEndpoint ? ', registration (RFC 7591)' : ''}.`,
  });

  // 4. iss: the metadata names its issuer exactly (checked when read) and sends it back (RFC 9207).
  add(
    metadata.authorizationResponseIssParameterSupported
      ? {
          check: check('iss'),
          level: 'ok',
          link: 'iss',
          message: `${issuer} names itself exactly and sends iss in its authorization responses (RFC 9207, checked at the callback).`,
        }
      : {
          check: check('iss'),
          level: 'warn',
          link: 'iss',
          message: `${issuer} names itself exactly but does not announce iss in its authorization responses (RFC 9207): a mix-up would not be seen at the callback.`,
          remediation: 'Nothing to do for this connection; the server’s operator can send iss (RFC 9207).',
        },
  );

  // 5. The client: the one Baton holds, still accepted at the token endpoint where that can be told.
  try {
    // The authorization server's metadata applied to its provider, as a refresh would have it.
    await baton.mcp.discover(serverUrl, { force: true });
    const held = await baton.mcp.heldClient(info.provider);
    if (!held)
      return fail(
        'client',
        `Baton holds no client at ${issuer} (its registration was forgotten): the connection cannot be refreshed.`,
        `Authorize it again, which obtains a client: ${reconnect}`,
      );
    const result = await baton.verifyClient(info.provider, { resource: serverUrl });
    if (result.result === 'rejected')
      return fail(
        'client',
        `${issuer} no longer accepts the client ${held.clientId} (invalid_client): it forgot it.`,
        `Baton registers again at the next refresh (\`baton refresh ${id} --force\`) or authorization (${reconnect}).`,
      );
    add({
      check: check('client'),
      level: result.result === 'ok' ? 'ok' : 'warn',
      link: 'client',
      message:
        result.result === 'ok'
          ? `${held.clientId} (${held.kind}): ${result.detail}.`
          : `${held.clientId} (${held.kind}): could not be checked without a user grant (${tidy(result.detail)}).`,
      ...(result.result === 'ok' ? {} : { remediation: `A refresh will tell: baton refresh ${id} --force` }),
    });
  } catch (err) {
    return fail('client', why(err), err instanceof BatonError ? cliRemediation(err) : reconnect);
  }

  // 6. The token: the grant is held, a token is had (refreshed when due) and the server takes it.
  if (info.status !== 'active')
    return fail(
      'token',
      info.status === 'revoked'
        ? 'the connection was revoked: it needs authorizing again.'
        : `the grant is gone (needs_reauth${info.lastError ? `: ${tidy(info.lastError.message)}` : ''}): it needs authorizing again.`,
      `Authorize it again: ${reconnect}`,
    );
  try {
    await baton.getAccessToken(id);
    const res = await baton.fetch(id, '', {
      method: 'GET',
      headers: { accept: 'application/json, text/event-stream' },
    });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 401)
      return fail(
        'token',
        'the MCP server refuses the token (HTTP 401).',
        `Authorize it again: ${reconnect}`,
      );
    const fresh = await baton.get(id);
    const left = humanDuration(Math.max(0, (fresh.accessTokenExpiresAt ?? Date.now()) - Date.now()));
    add({
      check: check('token'),
      level: res.status === 403 ? 'warn' : 'ok',
      link: 'token',
      message:
        res.status === 403
          ? `token valid for ${left}, but the MCP server answers 403 to it: it needs more scope.`
          : `token valid for ${left}; the MCP server takes it (HTTP ${res.status}).`,
      ...(res.status === 403
        ? {
            remediation: `Authorize it again with more scope: baton mcp connect ${serverUrl} --id ${id} --scope <scope>`,
          }
        : {}),
    });
    return true;
  } catch (err) {
    return fail(
      'token',
      err instanceof ReauthorizationRequired ? `${why(err)} It needs authorizing again.` : why(err),
      err instanceof ReauthorizationRequired
        ? `Authorize it again: ${reconnect}`
        : err instanceof BatonError
          ? cliRemediation(err)
          : reconnect,
    );
  }
}
