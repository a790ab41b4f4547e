import {
  AuthorizationError,
  BatonError,
  ConfigError,
  ConnectionMismatch,
  ConnectionNotFound,
  CredentialsRejected,
  InvalidClient,
  NetworkError,
  ProviderError,
  RateLimited,
  ReauthorizationRequired,
  redact,
  SecretKeyError,
  StoreError,
} from '../errors.js';
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

export const forbidden = (why: string, remediation: string) =>
  new HttpProblem(403, 'forbidden', why, remediation);

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  409: 'Conflict',
  413: 'Payload Too Large',
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
  const status = statusFor(err);
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
    detail = String((err as Error).message);
    remediation = 'Fix the request to match the API description at /v1/openapi.json.';
  } else if (status < 500) {
    code = (err as { code?: string } | null)?.code?.toLowerCase() ?? 'bad_request';
    detail = String((err as Error)?.message ?? err);
    remediation = 'Fix the request to match the API description at /v1/openapi.json.';
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
  return problem;
}

export const PROBLEM_TYPE = 'application/problem+json';
