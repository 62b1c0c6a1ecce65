// The value of `--export`: `prometheus`, `prometheus=HOST:PORT`, `prometheus=[IPV6]:PORT`,
// `prometheus=:PORT` or `prometheus=PORT`. The default is 127.0.0.1:9464 (Prometheus' customary
// exporter port), so that metrics are not served beyond the machine unless asked.
import { isIPv4, isIPv6 } from 'node:net';

const DEFAULT_HOST = '127.0.0.1';
const DEFAULT_PORT = 9464;

export interface ExportTarget {
  kind: 'prometheus';
  host: string;
  port: number;
}

const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/;

function parsePort(text: string): number | undefined {
  if (!/^\d{1,5}$/.test(text)) return undefined;
  const port = Number(text);
  return port >= 1 && port <= 65535 ? port : undefined;
}

/** The target, or a message saying what is wrong with the value. */
export function parseExportTarget(spec: string): ExportTarget | { error: string } {
  const usage = `use --export prometheus or --export prometheus=ADDR:PORT (e.g. 127.0.0.1:${DEFAULT_PORT}, [::1]:${DEFAULT_PORT}), not '${spec}'`;
  const eq = spec.indexOf('=');
  const kind = eq < 0 ? spec : spec.slice(0, eq);
  if (kind !== 'prometheus') return { error: `unknown exporter '${kind}': ${usage}` };
  if (eq < 0) return { kind, host: DEFAULT_HOST, port: DEFAULT_PORT };
  const addr = spec.slice(eq + 1);
  let host: string;
  let portText: string;
  const v6 = /^\[([^\]]*)\]:(.*)$/.exec(addr);
  if (v6) {
    if (!isIPv6(v6[1]!)) return { error: `'${v6[1]}' is not an IPv6 address: ${usage}` };
    [host, portText] = [v6[1]!, v6[2]!];
  } else if (!addr.includes(':')) {
    [host, portText] = [DEFAULT_HOST, addr];
  } else {
    const colon = addr.lastIndexOf(':');
    host = addr.slice(0, colon) || DEFAULT_HOST;
    portText = addr.slice(colon + 1);
    if (host.includes(':')) return { error: `an IPv6 address goes in brackets: ${usage}` };
    if (!isIPv4(host) && !HOSTNAME.test(host)) return { error: `'${host}' is not an address: ${usage}` };
  }
  const port = parsePort(portText);
  if (port === undefined) return { error: `'${portText}' is not a port (1-65535): ${usage}` };
  return { kind, host, port };
}

/** `127.0.0.1:9464`, `[::1]:9464`. */
export function formatAddress(t: { host: string; port: number }): string {
  return isIPv6(t.host) ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}
