// `--export prometheus`: an HTTP server whose /metrics reads every map of the running session afresh
// on each scrape. It listens before anything is loaded, so that a taken port fails the run before BPF
// programs exist; until the session has attached (and once it has stopped), /metrics answers 503.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { KtError } from '../errors.js';
import type { PlanMap } from '../plan/types.js';
import type { SessionControl } from '../runtime/session.js';
import { formatAddress, type ExportTarget } from './address.js';
import { exportedMaps, healthFamilies, mapFamily, type ExportedMap } from './families.js';
import { CONTENT_TYPE, exposition } from './exposition.js';

function listenProblem(e: NodeJS.ErrnoException, where: string): string {
  switch (e.code) {
    case 'EADDRINUSE':
      return `cannot serve Prometheus metrics on ${where}: the address is already in use (choose another with --export prometheus=ADDR:PORT)`;
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return `cannot serve Prometheus metrics on ${where}: no such address on this machine`;
    case 'EACCES':
      return `cannot serve Prometheus metrics on ${where}: permission denied`;
    default:
      return `cannot serve Prometheus metrics on ${where}: ${e.message}`;
  }
}

export class PrometheusExporter {
  private control?: SessionControl;
  private lastScrapeSeconds = 0;
  private readonly maps: ExportedMap[];

  private constructor(
    private readonly server: Server,
    maps: PlanMap[],
  ) {
    this.maps = exportedMaps(maps);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => void this.handle(req, res));
  }

  /** Listens on the target; throws KtError listen-failed (one line for the user) when it cannot. */
  static listen(target: ExportTarget, maps: PlanMap[]): Promise<PrometheusExporter> {
    const server = createServer();
    return new Promise((resolve, reject) => {
      server.once('error', (e: NodeJS.ErrnoException) => reject(new KtError('listen-failed', listenProblem(e, formatAddress(target)))));
      server.listen({ host: target.host, port: target.port }, () => resolve(new PrometheusExporter(server, maps)));
    });
  }

  /** The address actually bound (the port matters when 0 was asked for in tests). */
  get address(): { host: string; port: number } {
    const a = this.server.address();
    if (a === null || typeof a === 'string') throw new Error('the exporter is not listening');
    return { host: a.address, port: a.port };
  }

  /**
   * Serves this session's maps from now on (SessionOptions.onStarted). The first writing of the
   * metrics compiles the code that writes them (prom-client's and the exporter's): some 10 ms on an
   * idle machine, ten times that on a loaded one. It is done once now, maps left unread, so that
   * the first scrape does not wait for it.
   */
  attach(control: SessionControl): void {
    this.control = control;
    setImmediate(() => {
      if (this.control !== control) return;
      try {
        exposition([...this.maps.map((m) => mapFamily(m, undefined, control.render)), ...healthFamilies(control.health(), 0)]).catch(() => {});
      } catch {
        // A session that cannot say its health now says it on the first scrape.
      }
    });
  }

  /** Stops serving maps (SessionOptions.onStop): the session is about to release them. */
  detach(): void {
    this.control = undefined;
  }

  close(): Promise<void> {
    this.detach();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  /** The /metrics text: every map and the health metrics, read now. */
  async scrape(control: SessionControl): Promise<string> {
    const started = process.hrtime.bigint();
    const snapshots = new Map(control.snapshots().map((s) => [s.name, s]));
    const families = [
      ...this.maps.map((m) => mapFamily(m, snapshots.get(m.map), control.render)),
      ...healthFamilies(control.health(), this.lastScrapeSeconds),
    ];
    const text = await exposition(families);
    this.lastScrapeSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    return text;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8' }).end('kafkatrace serves its metrics on /metrics\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain; charset=utf-8' }).end('use GET\n');
      return;
    }
    const control = this.control;
    if (!control) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('kafkatrace: the script is not running\n');
      return;
    }
    try {
      const text = await this.scrape(control);
      res.writeHead(200, { 'content-type': CONTENT_TYPE }).end(req.method === 'HEAD' ? undefined : text);
    } catch (e) {
      res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end(`kafkatrace: ${e instanceof Error ? e.message : String(e)}\n`);
    }
  }
}
