// The one catalog of Switchboard errors (fastify's lib/errors.js is the model): every error a
// component throws is created here, with a stable code, an HTTP status and a typed message.
// test/core/errors.test.ts checks that each code is documented in docs/errors.md.

/** OpenAI's error `type` values; the router's envelope carries one. */
export type OpenAIErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'server_error'
  | 'service_unavailable'
  | 'timeout_error'
  | 'internal_error';

interface ErrorDef<A extends unknown[]> {
  readonly statusCode: number;
  readonly type: OpenAIErrorType;
  readonly message: (...args: A) => string;
}

function def<A extends unknown[]>(statusCode: number, type: OpenAIErrorType, message: (...args: A) => string): ErrorDef<A> {
  return { statusCode, type, message };
}

export const ERRORS = {
  // ---- configuration and start-up (CLI exits non-zero; never reaches the wire)
  SB_ERR_CONFIG_INVALID: def(400, 'invalid_request_error', (source: string, detail: string) => `Invalid configuration in ${source}: ${detail}`),
  SB_ERR_CONFIG_FILE: def(400, 'invalid_request_error', (file: string, detail: string) => `Cannot read config file ${file}: ${detail}`),
  SB_ERR_INSECURE_BIND: def(400, 'invalid_request_error', (host: string, what: string) =>
    `Refusing to bind ${what} to ${host} without a token: anyone who can reach it could change it. Set --token (or SWITCHBOARD_TOKEN), bind to 127.0.0.1, or pass --insecure to accept the risk`),
  SB_ERR_LISTEN: def(500, 'internal_error', (host: string, port: number, detail: string) => `Cannot listen on ${host}:${port}: ${detail}`),
  SB_ERR_USAGE: def(400, 'invalid_request_error', (detail: string) => detail),

  // ---- generic HTTP input errors (every surface)
  SB_ERR_INVALID_JSON: def(400, 'invalid_request_error', (detail: string) => `Invalid JSON: ${detail}`),
  SB_ERR_BODY_TOO_LARGE: def(413, 'invalid_request_error', (limitBytes: number) => `Request body too large: the limit is ${limitBytes} bytes`),
  SB_ERR_INVALID_FIELD: def(400, 'invalid_request_error', (field: string, expected: string) => `Invalid field '${field}': expected ${expected}`),
  SB_ERR_MISSING_FIELD: def(400, 'invalid_request_error', (field: string) => `Missing required field: ${field}`),
  SB_ERR_NOT_FOUND: def(404, 'not_found_error', (method: string, path: string) => `Not found: ${method} ${path}`),
  SB_ERR_METHOD_NOT_ALLOWED: def(405, 'invalid_request_error', (method: string, path: string) => `Method ${method} not allowed on ${path}`),
  SB_ERR_UNAUTHORIZED: def(401, 'authentication_error', (detail: string) => detail),
  SB_ERR_FORBIDDEN: def(403, 'permission_error', (detail: string) => detail),
  SB_ERR_INTERNAL: def(500, 'internal_error', () => 'Internal server error'),

  // ---- registry
  SB_ERR_SERVICE_NOT_FOUND: def(404, 'not_found_error', (name: string) => `Service '${name}' not found`),
  SB_ERR_STORE_UNAVAILABLE: def(503, 'service_unavailable', (store: string, detail: string) => `Registry store ${store} unavailable: ${detail}`),
  SB_ERR_REGISTRY_UNREACHABLE: def(503, 'service_unavailable', (url: string, detail: string) => `Registry at ${url} unreachable: ${detail}`),
  SB_ERR_REGISTRY_REJECTED: def(502, 'server_error', (url: string, status: number, detail: string) => `Registry at ${url} answered ${status}: ${detail}`),

  // ---- router (OpenAI envelope; messages as InfiniLM-SVC's router wrote them)
  SB_ERR_NO_HEALTHY_BACKENDS: def(503, 'service_unavailable', (model: string | undefined) =>
    model === undefined ? 'No healthy services available' : `No healthy services available for model '${model}'`),
  SB_ERR_UPSTREAM_TIMEOUT: def(504, 'timeout_error', () => 'Service timeout'),
  SB_ERR_UPSTREAM_REFUSED: def(503, 'service_unavailable', () => 'Service unavailable - connection refused'),
  SB_ERR_UPSTREAM_FAILED: def(502, 'server_error', () => 'Bad gateway - error communicating with service'),
  SB_ERR_STREAM_CUT: def(502, 'server_error', (backend: string, detail: string) => `The backend ${backend} ended the stream before it was complete (${detail}); the response is incomplete`),

  // ---- operator tools (render-config, nginx-config): printed as `Error: <message>`, exit 1,
  // like the InfiniLM-SVC scripts they replace; never on the wire.
  SB_ERR_INPUT_INVALID: def(400, 'invalid_request_error', (where: string, detail: string) => `${where}: ${detail}`),
  SB_ERR_FILE_NOT_FOUND: def(404, 'not_found_error', (what: string, path: string) => `${what} not found: ${path}`),
  SB_ERR_TEMPLATE: def(400, 'invalid_request_error', (template: string, detail: string) => `Cannot render template ${template}: ${detail}`),
  SB_ERR_NO_SERVICES: def(400, 'invalid_request_error', (hint: string) => `No services configured. ${hint}`),
  SB_ERR_OUTPUT_WRITE: def(500, 'internal_error', (path: string, detail: string) => `Cannot write ${path}: ${detail}`),
  // status / validate: a check of a running fleet, reported as FAIL with this message (never on the wire)
  SB_ERR_CHECK_FAILED: def(500, 'internal_error', (detail: string) => detail),
  SB_ERR_PROCESS_START: def(500, 'internal_error', (what: string, detail: string) => `switchboard ${what} did not start: ${detail}`),

  // ---- usage records (router): never on the wire; in logs, /health and the CLI
  SB_ERR_USAGE_DB: def(503, 'service_unavailable', (target: string, detail: string) => `Usage database ${target}: ${detail}`),
  SB_ERR_USAGE_SPOOL: def(500, 'internal_error', (path: string, detail: string) => `Usage spool ${path}: ${detail}`),

  // ---- fleets (`switchboard up`, `switchboard fleet`): printed by the CLI, never on the wire
  SB_ERR_PORT_IN_USE: def(409, 'invalid_request_error', (port: number, host: string, role: string, detail: string) =>
    `Port ${port} on ${host} is already in use, so ${role} cannot start there. ${detail}`),
  SB_ERR_FLEET_START: def(500, 'internal_error', (what: string, detail: string) => `${what} did not start: ${detail}`),

  // ---- simulated engine (`switchboard sim`): OpenAI envelope, as vLLM / llama.cpp answer
  SB_ERR_ENGINE_MODEL_NOT_FOUND: def(404, 'invalid_request_error', (model: string) => `The model '${model}' does not exist`),
  SB_ERR_ENGINE_LOADING: def(503, 'service_unavailable', () => 'Loading model'),
  SB_ERR_ENGINE_FAULT: def(500, 'server_error', (what: string) => `Simulated engine failure (${what})`),
  SB_ERR_ENGINE_ENDPOINT_DISABLED: def(400, 'invalid_request_error', (kind: string, path: string) =>
    `This engine serves ${kind} only: ${path} is not available (started with --kind ${kind})`),
  SB_ERR_ENGINE_CONTEXT_LENGTH: def(400, 'invalid_request_error', (maxLen: number, prompt: number, completion: number) =>
    `This model's maximum context length is ${maxLen} tokens. However, you requested ${prompt + completion} tokens (${prompt} in the messages, ${completion} in the completion). Please reduce the length of the messages or completion.`),

  // ---- gateway policies (src/gateway): API keys and rate limits, OpenAI envelope on the router
  SB_ERR_AUTH_MISSING: def(401, 'authentication_error', () =>
    "You didn't provide an API key. Send it in an Authorization header using Bearer auth (Authorization: Bearer YOUR_KEY)."),
  SB_ERR_AUTH_INVALID: def(401, 'authentication_error', () => 'Incorrect API key provided (unknown or revoked).'),
  SB_ERR_MODEL_FORBIDDEN: def(403, 'permission_error', (keyName: string, model: string) => `The API key '${keyName}' is not allowed to use the model '${model}'`),
  SB_ERR_RATE_LIMITED: def(429, 'rate_limit_error', (scope: string, limit: string, limitValue: number, retryAfterSeconds: number) =>
    `Rate limit reached for ${scope} on ${limit}: limit ${limitValue}. Please try again in ${retryAfterSeconds}s.`),
  SB_ERR_RATE_LIMIT_UNAVAILABLE: def(503, 'service_unavailable', (detail: string) =>
    `Rate limiting is unavailable and the router is configured to fail closed: ${detail}`),
  SB_ERR_KEYS_FILE: def(400, 'invalid_request_error', (file: string, detail: string) => `Keys file ${file}: ${detail}`),
  SB_ERR_KEY_NOT_FOUND: def(404, 'not_found_error', (file: string, name: string) => `No API key named '${name}' in ${file}`),

  // ---- agent (`switchboard agent`): the registry's envelope on port + 1
  SB_ERR_AGENT_MODEL_NOT_FOUND: def(404, 'not_found_error', (name: string) => `Model not found: ${name}`),
  SB_ERR_AGENT_MODEL_EXISTS: def(409, 'invalid_request_error', (name: string) => `Model ${name} is already registered`),
  SB_ERR_AGENT_SCALE: def(400, 'invalid_request_error', (name: string, detail: string) => `Cannot scale model ${name}: ${detail}`),
  SB_ERR_AGENT_ENGINE_NOT_READY: def(503, 'service_unavailable', () => 'InfiniLM server not ready'),
  SB_ERR_AGENT_ENGINE_FAILED: def(502, 'server_error', (name: string, detail: string) => `The engine of model ${name} did not start: ${detail}`),
  SB_ERR_AGENT_DRAINING: def(503, 'service_unavailable', () => 'This agent is draining: it accepts no model changes'),
  SB_ERR_AGENT_MANAGEMENT_DISABLED: def(403, 'permission_error', (host: string) =>
    `Model management is off: this agent listens on ${host} without an admin token. Set --admin-token (or SWITCHBOARD_AGENT_TOKEN), or listen on 127.0.0.1`),

  // ---- backup and restore (`switchboard backup`, `switchboard restore`): printed by the CLI, exit 1
  SB_ERR_BACKUP_SOURCE: def(400, 'invalid_request_error', (what: string, detail: string) => `Cannot back up ${what}: ${detail}`),
  SB_ERR_BACKUP_EXISTS: def(409, 'invalid_request_error', (path: string, detail?: string) =>
    detail === undefined ? `${path} already exists (--force replaces it)` : `Cannot write the backup to ${path}: ${detail}`),
  SB_ERR_BACKUP_INVALID: def(400, 'invalid_request_error', (backup: string, detail: string) => `Backup ${backup} cannot be restored: ${detail}`),
  SB_ERR_RESTORE_CONFLICT: def(409, 'invalid_request_error', (paths: readonly string[]) =>
    `Restore would replace ${paths.length === 1 ? 'a file that exists' : `${paths.length} files that exist`}: ${paths.join(', ')} (--force replaces them); nothing was restored`),
  SB_ERR_RESTORE_TARGET: def(500, 'internal_error', (what: string, detail: string) => `Cannot restore ${what}: ${detail}`),
} as const;

export type ErrorCode = keyof typeof ERRORS;
type MessageArgs<C extends ErrorCode> = Parameters<(typeof ERRORS)[C]['message']>;

export class SwitchboardError extends Error {
  override readonly name = 'SwitchboardError';
  readonly code: ErrorCode;
  readonly statusCode: number;
  readonly type: OpenAIErrorType;
  /** The offending field or parameter, when there is one (OpenAI's `param`). */
  param: string | null = null;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    const d = ERRORS[code];
    this.code = code;
    this.statusCode = d.statusCode;
    this.type = d.type;
  }

  withParam(param: string): this {
    this.param = param;
    return this;
  }
}

/** Creates a catalog error: `sbError('SB_ERR_SERVICE_NOT_FOUND', name)`. */
export function sbError<C extends ErrorCode>(code: C, ...args: MessageArgs<C>): SwitchboardError {
  const message = (ERRORS[code].message as (...a: unknown[]) => string)(...args);
  return new SwitchboardError(code, message);
}

/** Same as sbError, with `cause` chained. */
export function sbErrorFrom<C extends ErrorCode>(cause: unknown, code: C, ...args: MessageArgs<C>): SwitchboardError {
  const message = (ERRORS[code].message as (...a: unknown[]) => string)(...args);
  return new SwitchboardError(code, message, { cause });
}

export function isSwitchboardError(err: unknown): err is SwitchboardError {
  return err instanceof SwitchboardError;
}

/** A short human reason for any thrown value (for logs and wrapped messages). */
export function describeError(err: unknown): string {
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code;
    return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
  }
  return String(err);
}
