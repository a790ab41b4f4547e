import type { FastifyInstance, FastifyReply } from 'fastify';
import {
  AuthorizationError,
  BatonError,
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  CredentialsRejected,
  InsufficientScope,
  InvalidClient,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  redact,
  SecretKeyError,
  StoreError,
} from '../errors.js';
import { pathOnly } from './audit.js';
import type { Caller } from './keys.js';
import { httpRemediation } from './remediation.js';

/** An RFC 9457 problem document, carrying Baton's `code` and `remediation`. */
export interface Problem {
  type: string;
  title: string;
  status: number;
  detail: string;
  code: string;
  remediation: string;
  instance?: string;
  connectionId?: string;
  provider?: string;
  /**
   * For a 409 needing a person (revoked, needs_reauth): a connect page that authorizes the
   * connection again — the link GET /v1/connections/{id} gives; only for keys with manage.
   */
  reconnect?: string;
  retryAfter?: number;
  /** For `insufficient_scope`: the scopes to authorize the connection with (held and asked for). */
  scopes?: string[];
}

/** An error the server itself raises (authentication, scope, kill switch, validation). */
export class HttpProblem extends BatonError {
  readonly status: number;
  constructor(status: number, code: string, message: string, remediation: string) {
    super(code, message, remediation);
    this.status = status;
  }
}

export const unauthorized = (why: string) =>
  new HttpProblem(
    401,
    'unauthorized',
    why,
    "Send a caller key as `Authorization: Bearer <key>`; the server's operator issues keys (`baton keys create`).",
  );

/**
 * The `WWW-Authenticate` challenge of a 401 (RFC 9110 §11.6.1, RFC 6750 §3): `error="invalid_token"`
 * when a key was sent but is not one this server honours.
 */
export const bearerChallenge = (keySent: boolean) =>
  keySent ? 'Bearer realm="baton", error="invalid_token"' : 'Bearer realm="baton"';

const FIX_REQUEST = 'Fix the request to match the API description at /v1/openapi.json.';

/**
 * The framework's own refusals (fastify's FST_ERR_* codes: a URL that is not valid
 * percent-encoded UTF-8, a body that is not JSON, too large, of another media type) as Baton
 * problems: status, code, what happened, what to do.
 */
const FRAMEWORK: Record<string, [number, string, string, string]> = {
  FST_ERR_BAD_URL: [
    400,
    'invalid_url',
    'The request path is not valid percent-encoded UTF-8 (RFC 3986 §2.1).',
    'Percent-encode the path as UTF-8 bytes, e.g. %C3%A9 for é; send a literal % as %25.',
  ],
  FST_ERR_MAX_PARAM_LENGTH: [
    414,
    'uri_too_long',
    'A path segment of the request is too long.',
    'Connection ids are at most 200 characters; check the path.',
  ],
  FST_ERR_CTP_INVALID_JSON_BODY: [
    400,
    'invalid_json',
    'The request body is not valid JSON (RFC 8259).',
    'Send a JSON body with Content-Type: application/json.',
  ],
  FST_ERR_CTP_EMPTY_JSON_BODY: [
    400,
    'invalid_json',
    'The request says Content-Type: application/json but its body is empty.',
    'Send a JSON body, or no Content-Type header with no body.',
  ],
  FST_ERR_CTP_BODY_TOO_LARGE: [
    413,
    'body_too_large',
    'The request body is larger than this server accepts (1 MiB).',
    'Send a smaller body.',
  ],
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [
    415,
    'unsupported_media_type',
    'The request body is of a media type this route does not accept.',
    'Send the body as application/json.',
  ],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [
    400,
    'invalid_content_length',
    'The request body is not as long as its Content-Length says.',
    'Send a Content-Length that matches the body.',
  ],
  FST_ERR_CTP_INVALID_TYPE: [
    400,
    'invalid_content_type',
    'The Content-Type header is not a single media type.',
    'Send one Content-Type header, e.g. application/json.',
  ],
};

interface ValidationIssue {
  instancePath?: string;
  keyword?: string;
  message?: string;
  params?: Record<string, unknown>;
}

/** One sentence naming what failed validation and why, without echoing the value sent. */
function validationDetail(err: { validation?: ValidationIssue[]; validationContext?: string }): string {
  const first = err.validation?.[0];
  if (!first) return 'The request does not match the API description.';
  let where = `${err.validationContext ?? 'request'}${first.instancePath ?? ''}`;
  if (first.keyword === 'required' || first.keyword === 'additionalProperties') {
    const name = first.params?.['missingProperty'] ?? first.params?.['additionalProperty'];
    return first.keyword === 'required'
      ? `${where} must have the property "${String(name)}".`
      : `${where} has a property "${redact(String(name)).slice(0, 100)}" this route does not accept.`;
  }
  if (first.keyword === 'pattern' || first.keyword === 'propertyNames') {
    if (first.keyword === 'propertyNames') where = `${where} has a property name that`;
    return `${where} contains a character that is not accepted: control characters (such as NUL) and broken UTF-16 surrogates are refused.`;
  }
  return `${where} ${first.message ?? 'is not valid'}.`;
}

export const forbidden = (why: string, remediation: string) =>
  new HttpProblem(403, 'forbidden', why, remediation);

/** The one answer for an id outside a key's scope, whether or not it exists (README, "Out-of-scope ids"). */
export const outOfScope = (caller: Caller, id: string) =>
  forbidden(
    `The caller key "${caller.key.name}" is not allowed to use connection "${id}".`,
    "Use a caller key whose allow-list covers this connection id or its provider (the server's operator sets it when creating a key).",
  );

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  414: 'URI Too Long',
  415: 'Unsupported Media Type',
  422: 'Unprocessable Content',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

export function statusFor(err: unknown): number {
  if (err instanceof HttpProblem) return err.status;
  if (err instanceof ConnectionNotFound) return 404;
  if (err instanceof ReauthorizationRequired || err instanceof ConnectionMismatch) return 409;
  if (err instanceof RateLimited) return 429;
  if (err instanceof InsufficientScope) return 403;
  if (err instanceof CredentialsRejected) return 422;
  if (err instanceof NetworkError) return /no answer within/.test(err.message) ? 504 : 502;
  if (err instanceof ProviderError || err instanceof InvalidClient) return 502;
  if (err instanceof AuthorizationError || err instanceof ConfigError) return 400;
  if (err instanceof StoreError) return 503;
  if (err instanceof SecretKeyError) return 500;
  const status = (err as { statusCode?: number } | null)?.statusCode;
  if (typeof status === 'number' && status >= 400 && status < 600) return status;
  return 500;
}

/**
 * The problem document for any error. Core messages are redacted where they are built; they
 * pass through `redact` once more here, which also removes anything shaped like a credential.
 */
export function toProblem(err: unknown, requestId: string): Problem {
  const framework =
    err instanceof BatonError ? undefined : FRAMEWORK[(err as { code?: string } | null)?.code ?? ''];
  const status = framework?.[0] ?? statusFor(err);
  let code: string;
  let detail: string;
  let remediation: string;
  if (err instanceof BatonError) {
    code = err.code;
    detail = err.message;
    // The server's own problems are written for HTTP callers; the library's are translated.
    remediation = err instanceof HttpProblem ? err.remediation : httpRemediation(err).text;
  } else if (status < 500 && (err as { validation?: unknown } | null)?.validation) {
    code = 'invalid_request';
    detail = validationDetail(err as { validation?: ValidationIssue[]; validationContext?: string });
    remediation = FIX_REQUEST;
  } else if (framework) {
    [, code, detail, remediation] = framework;
  } else if (status < 500) {
    // Any other refusal of the framework's: a Baton code, never the framework's own.
    code = 'bad_request';
    detail = 'The request could not be read.';
    remediation = FIX_REQUEST;
  } else {
    code = 'internal';
    detail = 'The server failed unexpectedly.';
    remediation = `This is unexpected; report it with the request id ${requestId}.`;
  }
  const problem: Problem = {
    type: `urn:baton:problem:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    detail: redact(detail),
    code,
    remediation: redact(remediation),
    instance: `urn:baton:request:${requestId}`,
  };
  if (err instanceof BatonError) {
    if (err.connectionId) problem.connectionId = err.connectionId;
    if (err.provider) problem.provider = err.provider;
  }
  if (err instanceof RateLimited && err.retryAfter !== undefined) problem.retryAfter = err.retryAfter;
  if (err instanceof InsufficientScope) problem.scopes = err.scopes;
  return problem;
}

export const PROBLEM_TYPE = 'application/problem+json';

/** Answers with a problem document; its code becomes the audit row's outcome. */
export function sendProblem(reply: FastifyReply, problem: Problem): FastifyReply {
  reply.batonCode = problem.code;
  if (problem.retryAfter !== undefined) reply.header('retry-after', String(problem.retryAfter));
  return reply.code(problem.status).type(PROBLEM_TYPE).send(problem);
}

/**
 * The app's answer when a route throws, and when no route matches: a problem document every
 * time (404, or 405 with `Allow` when the path answers other methods). A 409 needing a person
 * carries a connect-page link for a key that may manage the connection (README, "API").
 */
export function answerProblems(
  app: FastifyInstance,
  {
    routes,
    reconnectLink,
  }: {
    /** Every route registered, for 405 and its Allow header. */
    routes: readonly { method: string; url: string }[];
    reconnectLink(id: string): Promise<{ url: string } | null>;
  },
): void {
  app.setErrorHandler(async (err, req, reply) => {
    const problem = toProblem(err, req.id);
    if (problem.status >= 500) req.log.error({ err }, problem.detail);
    else if (err instanceof BatonError && !(err instanceof HttpProblem)) {
      // What only the operator can fix: the library's own sentence goes to the log.
      const operator = httpRemediation(err).operator;
      if (operator)
        req.log.warn(
          { code: err.code, provider: err.provider, remediation: redact(operator) },
          'for the operator',
        );
    }
    // A connection that needs a person: a key that may manage it gets the connect page itself.
    const caller = req.batonState?.caller;
    const reauth = err instanceof ReauthorizationRequired ? err : null;
    const id = reauth?.connectionId;
    if (id && caller?.key.ops.includes('manage') && caller.scope.allows(id, reauth?.provider ?? null)) {
      const link = await reconnectLink(id).catch(() => null);
      if (link) problem.reconnect = link.url;
    }
    if (problem.status === 401)
      reply.header('www-authenticate', bearerChallenge(req.headers.authorization !== undefined));
    return sendProblem(reply, problem);
  });

  /** The methods some route answers for a concrete path. */
  let patterns: { method: string; re: RegExp }[] | null = null;
  const methodsFor = (path: string): string[] => {
    patterns ??= routes.map((r) => ({
      method: r.method,
      re: new RegExp(
        `^${r.url
          .replace(/[.+?^${}()|[\]\\]/g, '\\$&')
          .replace(/:[A-Za-z]+/g, '[^/]+')
          .replace(/\*/g, '.*')}$`,
      ),
    }));
    return [...new Set(patterns.filter((p) => p.re.test(path)).map((p) => p.method))];
  };

  app.setNotFoundHandler((req, reply) => {
    const path = pathOnly(req.url);
    const allowed = methodsFor(path);
    if (allowed.length > 0) {
      reply.header('allow', allowed.join(', '));
      return sendProblem(
        reply,
        toProblem(
          new HttpProblem(
            405,
            'method_not_allowed',
            `${path} does not answer ${req.method}.`,
            `Use ${allowed.join(' or ')}; see /v1/openapi.json.`,
          ),
          req.id,
        ),
      );
    }
    return sendProblem(
      reply,
      toProblem(
        new HttpProblem(
          404,
          'not_found',
          `No route ${req.method} ${path}.`,
          'See /v1/openapi.json for the routes.',
        ),
        req.id,
      ),
    );
  });
}
