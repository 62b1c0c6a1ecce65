// The agent's HTTP face: /metrics (Prometheus text) and /healthz (each script's state as JSON; 200
// while at least one script runs, 503 otherwise).
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KtError } from '../errors.js';
import { formatAddress, type ExportTarget } from '../export/address.js';
import { CONTENT_TYPE } from '../export/exposition.js';
import type { ScriptState } from './supervisor.js';

export interface HealthBody {
  scripts: ({ name: string; state: 'starting' | 'running'; restarts: number } | { name: string; state: 'failed'; reason: string; retry_in_s: number; restarts: number })[];
}

/** /healthz's status and body. */
export function health(states: ScriptState[]): { status: number; body: HealthBody } {
  const scripts = states.map((s) =>
    s.state === 'failed'
      ? { name: s.name, state: s.state, reason: s.reason, retry_in_s: Math.ceil(s.retryInMs / 100) / 10, restarts: s.restarts }
      : { name: s.name, state: s.state, restarts: s.restarts },
  );
  return { status: states.some((s) => s.state === 'running') ? 200 : 503, body: { scripts } };
}

const TEXT = { 'content-type': 'text/plain; charset=utf-8' };

export class AgentServer {
  private constructor(private readonly server: Server) {}

  /** Listens on `target`; a KtError listen-failed (one line) when it cannot. */
  static listen(target: ExportTarget, routes: { metrics: () => Promise<string>; health: () => { status: number; body: HealthBody } }): Promise<AgentServer> {
    const server = createServer((req, res) => void handle(req, res, routes));
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) =>
        reject(new KtError('listen-failed', `cannot serve the agent's metrics on ${formatAddress(target)}: ${e.code === 'EADDRINUSE' ? 'the address is already in use (set listen in the configuration)' : e.code === 'EACCES' ? 'permission denied' : e.code === 'EADDRNOTAVAIL' || e.code === 'ENOTFOUND' ? 'no such address on this machine' : e.message}`)),
      );
      server.listen({ host: target.host, port: target.port }, () => resolve(new AgentServer(server)));
    });
  }

  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('the agent is not listening');
    return { host: a.address, port: a.port };
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }
}

async function handle(req: IncomingMessage, res: ServerResponse, routes: { metrics: () => Promise<string>; health: () => { status: number; body: HealthBody } }): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (path !== '/metrics' && path !== '/healthz') {
    res.writeHead(404, TEXT).end('the kafkatrace agent serves /metrics and /healthz\n');
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { allow: 'GET, HEAD', ...TEXT }).end('use GET\n');
    return;
  }
  const body = (text: string): string | undefined => (req.method === 'HEAD' ? undefined : text);
  if (path === '/healthz') {
    const h = routes.health();
    res.writeHead(h.status, { 'content-type': 'application/json' }).end(body(JSON.stringify(h.body) + '\n'));
    return;
  }
  try {
    const text = await routes.metrics();
    res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(body(text));
  } catch (e) {
    res.writeHead(500, TEXT).end(`kafkatrace agent: ${e instanceof Error ? e.message : String(e)}\n`);
  }
}
