import { problemSchema } from './schemas.js';

/** A route as the OpenAPI document describes it: the same schema objects fastify validates with. */
export interface RouteDoc {
  /** PROXY: every method of the authenticating proxy. */
  method: 'GET' | 'POST' | 'DELETE' | 'PROXY';
  url: string;
  op: string | null;
  summary: string;
  schema: { params?: object; querystring?: object; body?: object; response: Record<number, object> };
  /** The request body's media type when it is not JSON (the connect pages' forms). */
  bodyType?: string;
  /** Answers that are not JSON (pages, metrics, a stylesheet): status → media type and what it is. */
  media?: Record<number, [type: string, description: string]>;
  /** False: failures are answered as pages, not problem documents. */
  problems?: boolean;
  /** Problem statuses of the route beyond the common ones (413, 415). */
  problemStatuses?: number[];
}

/** `/v1/connections/:id` → `/v1/connections/{id}`; the proxy's wildcard becomes `{path}`. */
export function openApiPath(url: string): string {
  return url.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
}

type Schema = { properties?: Record<string, object>; required?: readonly string[] };

function parameters(schema: object | undefined, where: 'path' | 'query'): object[] {
  const s = schema as Schema | undefined;
  return Object.entries(s?.properties ?? {}).map(([name, p]) => ({
    name: name === '*' ? 'path' : name,
    in: where,
    required: where === 'path' || (s?.required ?? []).includes(name),
    schema: p,
    ...(name === '*'
      ? {
          description: 'the path under the connection’s API base, with its query string',
          allowReserved: true,
        }
      : {}),
  }));
}

const PROBLEM = {
  description: 'Problem',
  content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
};

/** The OpenAPI 3.1 document of the routes, built once from their schemas. */
export function buildOpenApi(routes: RouteDoc[]): object {
  const paths: Record<string, Record<string, object>> = {};
  for (const r of routes) {
    const path = openApiPath(r.url);
    const item = paths[path] ?? {};
    paths[path] = item;
    const responses: Record<string, object> = {};
    for (const [status, schema] of Object.entries(r.schema.response)) {
      responses[status] = { description: 'OK', content: { 'application/json': { schema } } };
    }
    for (const [status, [type, description]] of Object.entries(r.media ?? {})) {
      responses[status] = { description, content: { [type]: { schema: { type: 'string' } } } };
    }
    if (r.method === 'PROXY') responses['default'] = { description: 'The API’s own response, streamed' };
    if (r.op) {
      responses['401'] = PROBLEM;
      responses['403'] = PROBLEM;
    }
    if (r.problems !== false)
      for (const s of [
        '400',
        '404',
        '409',
        '429',
        '502',
        '503',
        '504',
        ...(r.problemStatuses ?? []).map(String),
      ])
        responses[s] ??= PROBLEM;
    const op = {
      summary: r.summary,
      operationId: `${r.method === 'PROXY' ? 'proxy' : r.method.toLowerCase()}${path.replace(/[^A-Za-z0-9]+(.)?/g, (_m, c: string | undefined) => (c ? c.toUpperCase() : ''))}`,
      ...(r.op ? { security: [{ callerKey: [] }], 'x-baton-operation': r.op } : { security: [] }),
      parameters: [...parameters(r.schema.params, 'path'), ...parameters(r.schema.querystring, 'query')],
      ...(r.schema.body
        ? {
            requestBody: {
              required: true,
              content: { [r.bodyType ?? 'application/json']: { schema: r.schema.body } },
            },
          }
        : r.method === 'PROXY'
          ? { requestBody: { required: false, content: { '*/*': { schema: {} } } } }
          : {}),
      responses,
    };
    if (r.method === 'PROXY') {
      for (const m of ['get', 'head', 'post', 'put', 'patch', 'delete', 'options'])
        item[m] = { ...op, operationId: `${op.operationId}${m[0]?.toUpperCase()}${m.slice(1)}` };
    } else item[r.method.toLowerCase()] = op;
  }
  const { $id: _id, ...problem } = problemSchema;
  return {
    openapi: '3.1.0',
    info: {
      title: 'Baton server',
      version: '1',
      description: 'Token release and an authenticating proxy over the connections Baton keeps authorized.',
    },
    paths,
    components: {
      schemas: { Problem: problem },
      securitySchemes: {
        callerKey: { type: 'http', scheme: 'bearer', description: 'a caller key from `baton keys create`' },
      },
    },
  };
}
