// The agent's configuration file: YAML or JSON (JSON is YAML), checked against the same rules as
// stdlib/agent-config.schema.json, which a test keeps in step with this validator. A mistake is one
// message at FILE:LINE:COL; nothing here throws anything but a KtError.
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { KtError } from '../errors.js';
import { readTrustedFile } from '../trusted-file.js';
import { parseExportTarget, type ExportTarget } from '../export/address.js';
import { netnsInode } from '../kafka/capture/netns.js';
import { escapeControls } from '../runtime/format/value.js';

export const DEFAULT_LISTEN = '127.0.0.1:9464';
export const DEFAULT_MAX_SERIES = 10000;

export interface ScriptConfig {
  /** Export name: the `script` label, and the prefix of its metric names (kafkatrace_NAME_...). */
  name: string;
  /** A stdlib tool by name, or a script path (relative to the configuration file); exactly one. */
  tool?: string;
  file?: string;
  /** Positional parameters ($1, $2, ...). */
  args: string[];
  /** Labels added to this script's series. */
  labels: Record<string, string>;
  /** Whether what the script prints (printf, print, its maps at the end) goes to the agent's stdout. */
  print: boolean;
}

export interface AgentConfig {
  /** Where /metrics and /healthz are served. */
  listen: ExportTarget;
  /** Labels added to every exported series (node, cluster). */
  labels: Record<string, string>;
  /** Series each exported metric keeps at most; the rest are dropped and counted. */
  maxSeries: number;
  /**
   * kafka.netns: the Kafka capture sees only sockets of this network namespace (a node's, when
   * several share a machine); its inode as the file was when the configuration was read.
   */
  netns?: { path: string; inode: number };
  scripts: ScriptConfig[];
}

/** Label names Prometheus accepts, minus its reserved `__` ones and the agent's own `script`. */
export const LABEL_NAME = /^(?!__)(?!script$)[a-zA-Z_][a-zA-Z0-9_]*$/;
/** Script names: they go into metric names, where kafkatrace_agent_* is the agent's own. */
export const SCRIPT_NAME = /^(?!agent)[a-z][a-z0-9_]*$/;
/** `${NAME}` in a label value, and what may follow `${` (to report a malformed one). */
const ENV_REF = /\$\{([^}]*)(\}?)/g;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The process's environment, or a test's. */
export type Environment = Readonly<Record<string, string | undefined>>;

class ConfigError extends Error {
  constructor(
    message: string,
    readonly node: Node | null | undefined,
  ) {
    super(message);
  }
}

type Reader = (node: Node | null | undefined, where: string) => unknown;

/** A value from the file, as a message quotes it: control characters escaped (messages reach terminals). */
function q(text: string): string {
  return `'${escapeControls(text)}'`;
}

function fail(node: Node | null | undefined, message: string): never {
  throw new ConfigError(message, node);
}

function checkNode(node: Node | null | undefined, where: string): void {
  if (isAlias(node)) fail(node, `${where}: aliases (*name) are not supported`);
}

function string(node: Node | null | undefined, where: string): string {
  checkNode(node, where);
  if (!isScalar(node) || typeof node.value !== 'string') fail(node, `${where} must be a string`);
  return node.value;
}

function boolean(node: Node | null | undefined, where: string): boolean {
  checkNode(node, where);
  if (!isScalar(node) || typeof node.value !== 'boolean') fail(node, `${where} must be true or false`);
  return node.value;
}

function mapEntries(node: Node | null | undefined, where: string): { key: string; keyNode: Node; value: Node | null }[] {
  checkNode(node, where);
  if (!isMap(node)) fail(node, `${where} must be a mapping (key: value)`);
  return node.items.map((pair) => {
    const keyNode = pair.key as Node;
    const key = string(keyNode, `a key of ${where}`);
    return { key, keyNode, value: pair.value as Node | null };
  });
}

/**
 * A label value with each `${NAME}` replaced by the environment variable NAME: what differs between
 * the hosts that share one file (a Kubernetes node's name comes in through the environment only).
 */
function expand(text: string, node: Node | null | undefined, label: string, env: Environment): string {
  return text.replace(ENV_REF, (_, name: string, close: string) => {
    if (!close || !ENV_NAME.test(name)) fail(node, `label ${label}: \${...} takes the name of an environment variable (letters, digits and _, not starting with a digit), as in \${NODE_NAME}`);
    const value = env[name];
    if (value === undefined || value === '') fail(node, `label ${label}: the environment variable ${name} is not set, or empty`);
    return value;
  });
}

function labels(node: Node | null | undefined, where: string, env: Environment): Record<string, string> {
  const out: Record<string, string> = {};
  for (const { key, keyNode, value } of mapEntries(node, where)) {
    if (!LABEL_NAME.test(key)) {
      fail(keyNode, `${q(key)} is not a label name: use letters, digits and _, not starting with a digit or __, and not 'script'`);
    }
    const shown = escapeControls(key);
    out[key] = expand(string(value, `label ${shown}`), value, shown, env);
  }
  return out;
}

/** A mapping whose keys are `fields`, each read by its reader; T says what the readers return. */
function object<T>(node: Node | null | undefined, where: string, fields: Record<string, Reader>, required: string[]): T & { node: Node } {
  const out: Record<string, unknown> = {};
  for (const { key, keyNode, value } of mapEntries(node, where)) {
    const read = fields[key];
    if (!read) fail(keyNode, `unknown field ${q(key)} in ${where} (known: ${Object.keys(fields).join(', ')})`);
    out[key] = read(value, key);
  }
  for (const r of required) if (!(r in out)) fail(node, `${where} needs '${r}'`);
  return { ...out, node: node as Node } as T & { node: Node };
}

function script(node: Node | null | undefined, index: number, env: Environment): ScriptConfig & { node: Node } {
  const where = `scripts[${index}]`;
  const s = object<{ name: string; tool?: string; file?: string; args?: string[]; labels?: Record<string, string>; print?: boolean }>(
    node,
    where,
    {
      name: (n) => {
        const name = string(n, 'name');
        if (!SCRIPT_NAME.test(name)) fail(n, `script name ${q(name)} must be lower-case letters, digits and _, starting with a letter other than 'agent' (it goes into metric names)`);
        return name;
      },
      tool: (n) => string(n, 'tool'),
      file: (n) => string(n, 'file'),
      args: (n) => {
        checkNode(n, 'args');
        if (!isSeq(n)) fail(n, 'args must be a list');
        return n.items.map((item) => {
          const v = item as Node;
          checkNode(v, 'an argument');
          if (isScalar(v) && (typeof v.value === 'string' || (typeof v.value === 'number' && Number.isFinite(v.value)))) return String(v.value);
          fail(v, 'an argument must be a string or a number');
        });
      },
      labels: (n) => labels(n, 'labels', env),
      print: (n) => boolean(n, 'print'),
    },
    ['name'],
  );
  if ((s.tool === undefined) === (s.file === undefined)) fail(node, `${where} needs exactly one of 'tool' (a stdlib tool) and 'file' (a script)`);
  return { name: s.name, ...(s.tool !== undefined ? { tool: s.tool } : {}), ...(s.file !== undefined ? { file: s.file } : {}), args: s.args ?? [], labels: s.labels ?? {}, print: s.print ?? false, node: s.node };
}

/** The `kafka` block: settings of the Kafka capture that every script shares. */
function kafka(node: Node | null | undefined): { netns?: { path: string; inode: number } } {
  const k = object<{ netns?: { path: string; inode: number } }>(
    node,
    'kafka',
    {
      netns: (n) => {
        const path = string(n, 'netns');
        const ns = netnsInode(path);
        if (!ns.ok) fail(n, `kafka.netns ${q(path)} ${ns.reason}`);
        return { path, inode: ns.inode };
      },
    },
    [],
  );
  return k.netns ? { netns: k.netns } : {};
}

function config(node: Node | null | undefined, env: Environment): AgentConfig {
  const c = object<{ listen?: ExportTarget; labels?: Record<string, string>; max_series?: number; kafka?: { netns?: { path: string; inode: number } }; scripts: (ScriptConfig & { node: Node })[] }>(
    node,
    'the configuration',
    {
      listen: (n) => {
        const text = string(n, 'listen');
        const target = parseExportTarget(`prometheus=${text}`);
        if ('error' in target) fail(n, `listen takes ADDR:PORT (e.g. ${DEFAULT_LISTEN}, [::1]:9464, 0.0.0.0:9464), not ${q(text)}`);
        return target;
      },
      labels: (n) => labels(n, 'labels', env),
      max_series: (n) => {
        checkNode(n, 'max_series');
        if (!isScalar(n) || typeof n.value !== 'number' || !Number.isSafeInteger(n.value) || n.value < 1) fail(n, 'max_series must be a whole number of at least 1');
        return n.value;
      },
      kafka,
      scripts: (n) => {
        checkNode(n, 'scripts');
        if (!isSeq(n)) fail(n, 'scripts must be a list');
        const scripts = n.items.map((item, i) => script(item as Node, i, env));
        const seen = new Set<string>();
        for (const s of scripts) {
          if (seen.has(s.name)) fail(s.node, `two scripts are named ${q(s.name)}: names must be unique`);
          seen.add(s.name);
        }
        return scripts;
      },
    },
    ['scripts'],
  );
  const listen = c.listen ?? (parseExportTarget(`prometheus=${DEFAULT_LISTEN}`) as ExportTarget);
  return {
    listen,
    labels: c.labels ?? {},
    maxSeries: c.max_series ?? DEFAULT_MAX_SERIES,
    ...(c.kafka?.netns ? { netns: c.kafka.netns } : {}),
    scripts: c.scripts.map(({ node: _, ...s }) => s),
  };
}

function located(file: string, lines: LineCounter, offset: number | undefined, message: string): KtError {
  const pos = lines.linePos(offset ?? 0);
  return new KtError('agent-config', `${escapeControls(file)}:${pos.line}:${pos.col}: ERROR: ${message}`);
}

/**
 * The configuration in `text`, `${NAME}` in label values read from `env`; a KtError agent-config
 * (FILE:LINE:COL: ERROR: ...) for the first mistake.
 */
export function parseConfig(text: string, file: string, env: Environment = process.env): AgentConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const syntax = doc.errors[0];
  if (syntax) throw located(file, lines, syntax.pos[0], syntax.message.replace(/\s+at line \d+, column \d+.*$/s, ''));
  try {
    return config(doc.contents, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    throw located(file, lines, e.node?.range?.[0], e.message);
  }
}

/**
 * A file's text, refused when another user could have written it: the agent runs as root and loads
 * what the file says into the kernel. Opened without following a symbolic link at its last step.
 */
export function readTrustedText(path: string, what: string): string {
  return readTrustedFile(path, { what, shown: escapeControls(path), code: 'config-unreadable', followLinks: false }).toString('utf8');
}

/** The configuration file, read and checked. */
export function loadConfig(path: string, env: Environment = process.env): AgentConfig {
  return parseConfig(readTrustedText(path, 'the configuration'), path, env);
}

/** A script of the configuration resolved to its source: what the supervisor runs and compares on reload. */
export interface AgentScript {
  name: string;
  /** The script path (a stdlib tool's own path for `tool`). */
  path: string;
  /** The script's text when it could be read, else why not (the script then fails, and is retried). */
  text: string | { problem: string };
  args: string[];
  /** The configuration's labels, then the script's own. */
  labels: Record<string, string>;
  print: boolean;
}

/** Resolves each script to its text; `tools` maps stdlib tool names to their paths. */
export function resolveScripts(cfg: AgentConfig, configPath: string, tools: ReadonlyMap<string, string>): AgentScript[] {
  return cfg.scripts.map((s) => {
    const labels = { ...cfg.labels, ...s.labels };
    if (s.tool !== undefined) {
      const path = tools.get(s.tool);
      if (path === undefined) return { name: s.name, path: s.tool, text: { problem: `no stdlib tool named ${q(s.tool)} (kafkatrace run --list shows them)` }, args: s.args, labels, print: s.print };
      try {
        return { name: s.name, path, text: readFileSync(path, 'utf8'), args: s.args, labels, print: s.print };
      } catch (e) {
        return { name: s.name, path, text: { problem: `cannot read the tool ${escapeControls(path)}: ${(e as NodeJS.ErrnoException).code ?? 'unreadable'}` }, args: s.args, labels, print: s.print };
      }
    }
    const path = resolve(dirname(configPath), s.file!);
    try {
      return { name: s.name, path, text: readTrustedText(path, 'the script'), args: s.args, labels, print: s.print };
    } catch (e) {
      return { name: s.name, path, text: { problem: (e as Error).message }, args: s.args, labels, print: s.print };
    }
  });
}
