// A small client of the Kubernetes API over node:https (node:http for `kubectl proxy`): JSON requests
// and a followed pod log. Every failure becomes one KtError line that says what the server or the
// network said; nothing from the server reaches the terminal unescaped.
import * as http from 'node:http';
import * as https from 'node:https';
import { KtError } from '../errors.js';
import { escapeControls } from '../runtime/format/value.js';
import type { KubeConnection } from './kubeconfig.js';

/** A request that gets no answer within this long fails: an unreachable server is one line, not a hang. */
const REQUEST_TIMEOUT_MS = 30_000;

/** An answer the server gave with a status that is not 2xx, with its Status object's message. */
export class KubeApiError extends KtError {
  constructor(
    readonly status: number,
    readonly reason: string,
    message: string,
  ) {
    super('kube-api', message);
  }
}

/** The message of a Kubernetes Status object, or of a body that is not one. */
function statusMessage(body: string): { message: string; reason: string } {
  try {
    const s = JSON.parse(body) as { message?: unknown; reason?: unknown };
    if (typeof s.message === 'string') return { message: s.message, reason: typeof s.reason === 'string' ? s.reason : '' };
  } catch {
    // Not JSON: a proxy's or a load balancer's page.
  }
  return { message: body.trim().split('\n')[0]!.slice(0, 200), reason: '' };
}

/** A network or TLS failure in words. */
function networkText(e: NodeJS.ErrnoException): string {
  switch (e.code) {
    case 'ECONNREFUSED':
      return 'connection refused';
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'the host name does not resolve';
    case 'ETIMEDOUT':
      return 'the connection timed out';
    case 'ECONNRESET':
      return 'the connection was reset';
    default:
      return e.message;
  }
}

export class KubeClient {
  constructor(
    readonly conn: KubeConnection,
    /** Gets the text of each Warning header an answer carries (a Pod Security warning, a deprecation). */
    private readonly onWarning: (text: string) => void = () => {},
  ) {}

  /** Warning headers are `299 - "text"` (RFC 7234), one per value. */
  private warn(res: http.IncomingMessage): void {
    const raw = res.headers['warning'];
    for (const value of Array.isArray(raw) ? raw : raw === undefined ? [] : [raw]) {
      const text = /^\d{3} \S+ "((?:[^"\\]|\\.)*)"/.exec(value)?.[1]?.replace(/\\(.)/g, '$1') ?? value;
      this.onWarning(escapeControls(text));
    }
  }

  /** The server as messages show it. */
  get serverText(): string {
    return escapeControls(this.conn.server.href);
  }

  private open(method: string, path: string, headers: Record<string, string>): http.ClientRequest {
    const base = this.conn.server;
    const prefix = base.pathname.replace(/\/$/, '');
    const options: https.RequestOptions = {
      method,
      host: base.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: base.port || (base.protocol === 'https:' ? 443 : 80),
      path: prefix + path,
      headers: { accept: 'application/json', 'user-agent': 'kafkatrace-kube', ...headers, ...(this.conn.authorization ? { authorization: this.conn.authorization } : {}) },
      agent: false,
    };
    if (base.protocol === 'http:') return http.request(options);
    return https.request({
      ...options,
      ca: this.conn.ca,
      cert: this.conn.cert,
      key: this.conn.key,
      rejectUnauthorized: !this.conn.insecureSkipTlsVerify,
      servername: this.conn.tlsServerName,
    });
  }

  private failure(e: NodeJS.ErrnoException): KtError {
    return new KtError('kube-api', `cannot reach the Kubernetes API server at ${this.serverText}: ${escapeControls(networkText(e))}`);
  }

  /** The answer's parsed JSON; throws KubeApiError for a status that is not 2xx. */
  async request<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const text = await new Promise<{ status: number; text: string }>((resolvePromise, reject) => {
      // Node sends a DELETE's body neither chunked nor with a length unless told its length.
      const req = this.open(method, path, payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) });
      const abort = (): void => void req.destroy(new KtError('kube-api', 'aborted'));
      signal?.addEventListener('abort', abort, { once: true });
      req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('timed out'), { code: 'ETIMEDOUT' })));
      req.on('error', (e) => {
        signal?.removeEventListener('abort', abort);
        reject(e instanceof KtError ? e : this.failure(e));
      });
      req.on('response', (res) => {
        this.warn(res);
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (e) => reject(this.failure(e)));
        res.on('end', () => {
          signal?.removeEventListener('abort', abort);
          resolvePromise({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      req.end(payload);
    });
    if (text.status < 200 || text.status > 299) {
      const { message, reason } = statusMessage(text.text);
      throw new KubeApiError(text.status, reason, escapeControls(message || `status ${text.status}`));
    }
    try {
      return JSON.parse(text.text) as T;
    } catch {
      throw new KtError('kube-api', `the API server at ${this.serverText} answered ${method} ${escapeControls(path)} with something that is not JSON`);
    }
  }

  /**
   * Follows a text stream (a pod's log): `onData` gets its bytes as they come; resolves when the
   * server ends it or `signal` aborts it.
   */
  follow(path: string, onData: (chunk: Buffer) => void, signal: AbortSignal): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const req = this.open('GET', path, { accept: '*/*' });
      const abort = (): void => {
        req.destroy();
        resolvePromise();
      };
      if (signal.aborted) return abort();
      signal.addEventListener('abort', abort, { once: true });
      const done = (e?: Error): void => {
        signal.removeEventListener('abort', abort);
        if (e) reject(e);
        else resolvePromise();
      };
      req.on('error', (e) => done(signal.aborted ? undefined : e instanceof KtError ? e : this.failure(e)));
      req.on('response', (res) => {
        const status = res.statusCode ?? 0;
        if (status < 200 || status > 299) {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () => {
            const { message, reason } = statusMessage(Buffer.concat(chunks).toString('utf8'));
            done(new KubeApiError(status, reason, escapeControls(message || `status ${status}`)));
          });
          return;
        }
        res.on('data', onData);
        res.on('error', () => done());
        res.on('end', () => done());
        res.on('close', () => done());
      });
      req.end();
    });
  }
}
