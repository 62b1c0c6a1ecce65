// The agent's configuration: mistakes are one message at FILE:LINE:COL, and the validator and the
// published JSON Schema (stdlib/agent-config.schema.json) accept and refuse the same documents.
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { loadConfig, parseConfig, resolveScripts } from '../../src/agent/config.js';
import { isKtError } from '../../src/errors.js';
import { ROOT } from '../helpers/cli.js';
import { schemaErrors, type JsonSchema } from '../helpers/json-schema.js';

const SCHEMA = JSON.parse(readFileSync(join(ROOT, 'stdlib', 'agent-config.schema.json'), 'utf8')) as JsonSchema;

function problem(text: string, file = 'agent.yaml'): string {
  try {
    parseConfig(text, file);
  } catch (e) {
    expect(isKtError(e, 'agent-config')).toBe(true);
    return (e as Error).message;
  }
  throw new Error('the configuration was accepted');
}

describe('agent configuration', () => {
  it('reads YAML and JSON with their defaults', () => {
    const yaml = parseConfig('scripts:\n  - name: lag\n    tool: kafka-lag\n', 'a.yaml');
    expect(yaml).toEqual({ listen: { kind: 'prometheus', host: '127.0.0.1', port: 9464 }, labels: {}, maxSeries: 10000, scripts: [{ name: 'lag', tool: 'kafka-lag', args: [], labels: {}, print: false }] });
    const json = parseConfig(
      JSON.stringify({ listen: '[::1]:9000', labels: { node: 'n1' }, max_series: 5, scripts: [{ name: 's', file: 'x.ktr', args: ['a', 7], labels: { team: 't' }, print: true }] }),
      'a.json',
    );
    expect(json).toEqual({ listen: { kind: 'prometheus', host: '::1', port: 9000 }, labels: { node: 'n1' }, maxSeries: 5, scripts: [{ name: 's', file: 'x.ktr', args: ['a', '7'], labels: { team: 't' }, print: true }] });
  });

  it('says where each mistake is, as FILE:LINE:COL', () => {
    expect(problem('scripts:\n  - name: a\n    tool: x\n    print: yes please\n')).toBe('agent.yaml:4:12: ERROR: print must be true or false');
    expect(problem('scripts:\n  - name: a\n    tool: x\n    tol: y\n')).toBe("agent.yaml:4:5: ERROR: unknown field 'tol' in scripts[0] (known: name, tool, file, args, labels, print)");
    expect(problem('scripts:\n  - name: a\n')).toBe("agent.yaml:2:5: ERROR: scripts[0] needs exactly one of 'tool' (a stdlib tool) and 'file' (a script)");
    expect(problem('scripts:\n  - name: a\n    tool: x\n    file: y\n')).toMatch(/^agent\.yaml:2:5: ERROR: scripts\[0\] needs exactly one of/);
    expect(problem('listen: nowhere\nscripts: []\n')).toBe("agent.yaml:1:9: ERROR: listen takes ADDR:PORT (e.g. 127.0.0.1:9464, [::1]:9464, 0.0.0.0:9464), not 'nowhere'");
    expect(problem('labels:\n  node: 3\nscripts: []\n')).toBe('agent.yaml:2:9: ERROR: label node must be a string');
    expect(problem('labels:\n  script: a\nscripts: []\n')).toMatch(/^agent\.yaml:2:3: ERROR: 'script' is not a label name/);
    expect(problem('max_series: 0\nscripts: []\n')).toBe('agent.yaml:1:13: ERROR: max_series must be a whole number of at least 1');
    expect(problem('scripts:\n  - {name: a, tool: x}\n  - {name: a, tool: y}\n')).toBe("agent.yaml:3:5: ERROR: two scripts are named 'a': names must be unique");
    expect(problem('scripts:\n  - {name: Big, tool: x}\n')).toMatch(/^agent\.yaml:2:12: ERROR: script name 'Big' must be/);
    expect(problem('scripts:\n  - {name: agent_x, tool: x}\n')).toMatch(/^agent\.yaml:2:12: ERROR: script name 'agent_x' must be/);
    expect(problem('labels: {}\n')).toBe("agent.yaml:1:1: ERROR: the configuration needs 'scripts'");
    expect(problem('x: &a 1\nscripts:\n  - *a\n')).toBe("agent.yaml:1:1: ERROR: unknown field 'x' in the configuration (known: listen, labels, max_series, kafka, scripts)");
    expect(problem('scripts:\n  - &a {name: a, tool: x}\n  - *a\n')).toBe('agent.yaml:3:5: ERROR: scripts[1]: aliases (*name) are not supported');
  });

  it('reads kafka.netns as the namespace inode, and says where a path is not a network namespace', () => {
    const own = statSync('/proc/self/ns/net').ino;
    expect(parseConfig('kafka:\n  netns: /proc/self/ns/net\nscripts: []\n', 'a.yaml').netns).toEqual({ path: '/proc/self/ns/net', inode: own });
    expect(parseConfig('kafka: {}\nscripts: []\n', 'a.yaml')).not.toHaveProperty('netns');
    expect(problem('scripts: []\nkafka:\n  netns: /proc/self/ns/mnt\n')).toBe("agent.yaml:3:10: ERROR: kafka.netns '/proc/self/ns/mnt' is a mnt namespace, not a network namespace");
    expect(problem('kafka: {netns: /etc/hostname}\nscripts: []\n')).toMatch(/^agent\.yaml:1:16: ERROR: kafka\.netns '\/etc\/hostname' is not a network namespace \(ip netns add/);
    expect(problem('kafka: {netns: /run/netns/nosuch-kt}\nscripts: []\n')).toBe("agent.yaml:1:16: ERROR: kafka.netns '/run/netns/nosuch-kt' cannot be read: no such file");
    expect(problem('kafka: {netns: 3}\nscripts: []\n')).toBe('agent.yaml:1:16: ERROR: netns must be a string');
    expect(problem('kafka: {ns: a}\nscripts: []\n')).toBe("agent.yaml:1:9: ERROR: unknown field 'ns' in kafka (known: netns)");
  });

  it('reads ${NAME} in label values from the environment, and says where one is missing', () => {
    const env = { NODE_NAME: 'worker-3', ZONE: 'eu-1', EMPTY: '' };
    const cfg = parseConfig('labels:\n  node: ${NODE_NAME}\n  at: "${ZONE}/${NODE_NAME}"\n  cost: $5 {x}\nscripts:\n  - {name: a, tool: x, labels: {z: "${ZONE}"}}\n', 'agent.yaml', env);
    expect(cfg.labels).toEqual({ node: 'worker-3', at: 'eu-1/worker-3', cost: '$5 {x}' });
    expect(cfg.scripts[0]!.labels).toEqual({ z: 'eu-1' });
    const missing = (text: string): string => {
      try {
        parseConfig(text, 'agent.yaml', env);
      } catch (e) {
        return (e as Error).message;
      }
      return 'accepted';
    };
    expect(missing('labels:\n  node: ${NODE}\nscripts: []\n')).toBe('agent.yaml:2:9: ERROR: label node: the environment variable NODE is not set, or empty');
    expect(missing('labels: {node: "${EMPTY}"}\nscripts: []\n')).toBe('agent.yaml:1:16: ERROR: label node: the environment variable EMPTY is not set, or empty');
    expect(missing('scripts: [{name: a, tool: x, labels: {n: "a${1X}"}}]\n')).toMatch(/^agent\.yaml:1:42: ERROR: label n: \$\{\.\.\.\} takes the name of an environment variable/);
    expect(missing('labels: {node: "${NODE_NAME"}\nscripts: []\n')).toMatch(/^agent\.yaml:1:16: ERROR: label node: \$\{\.\.\.\} takes the name/);
  });

  it('escapes control characters of the file in its messages', () => {
    expect(problem('scripts: []\n"x\\e[2J": 1\n')).toBe("agent.yaml:2:1: ERROR: unknown field 'x\\x1b[2J' in the configuration (known: listen, labels, max_series, kafka, scripts)");
  });

  it('reports a syntax error at its place, in one line', () => {
    const m = problem('scripts:\n  - name: a\n    tool: [x\n');
    expect(m).toMatch(/^agent\.yaml:\d+:\d+: ERROR: /);
    expect(m.split('\n')).toHaveLength(1);
    expect(problem('{"scripts": [], "scripts": []}', 'a.json')).toMatch(/^a\.json:1:17: ERROR: Map keys must be unique/);
    expect(problem('- 1\n- 2\n')).toBe('agent.yaml:1:1: ERROR: the configuration must be a mapping (key: value)');
    expect(problem('')).toBe('agent.yaml:1:1: ERROR: the configuration must be a mapping (key: value)');
  });
});

describe('agent configuration files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kt-agent-config-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses a configuration or a script that others can write', () => {
    const cfg = join(dir, 'open.yaml');
    writeFileSync(cfg, 'scripts: []\n');
    chmodSync(cfg, 0o666);
    expect(() => loadConfig(cfg)).toThrow(`not using the configuration ${cfg}: it is writable by others (mode 666)`);
    chmodSync(cfg, 0o644);
    expect(loadConfig(cfg).scripts).toEqual([]);
    expect(() => loadConfig(join(dir, 'missing.yaml'))).toThrow(`cannot read the configuration ${join(dir, 'missing.yaml')}: no such file`);
  });

  it("reads ${NAME} from the process's environment unless given another", () => {
    const cfg = join(dir, 'env.yaml');
    writeFileSync(cfg, 'labels: {node: "${KT_TEST_NODE_NAME}"}\nscripts: []\n', { mode: 0o644 });
    process.env['KT_TEST_NODE_NAME'] = 'from-env';
    try {
      expect(loadConfig(cfg).labels).toEqual({ node: 'from-env' });
      expect(loadConfig(cfg, { KT_TEST_NODE_NAME: 'given' }).labels).toEqual({ node: 'given' });
    } finally {
      delete process.env['KT_TEST_NODE_NAME'];
    }
    expect(() => loadConfig(cfg)).toThrow(`${cfg}:1:16: ERROR: label node: the environment variable KT_TEST_NODE_NAME is not set, or empty`);
  });

  it('resolves files next to the configuration, tools by name; an unreadable one carries why', () => {
    const cfgPath = join(dir, 'agent.yaml');
    writeFileSync(join(dir, 'mine.ktr'), 'BEGIN { }\n', { mode: 0o644 });
    writeFileSync(join(dir, 'shared.ktr'), 'BEGIN { }\n', { mode: 0o664 });
    chmodSync(join(dir, 'shared.ktr'), 0o664);
    const cfg = parseConfig('labels: {node: n1}\nscripts:\n  - {name: a, file: mine.ktr, labels: {node: n2, x: y}}\n  - {name: b, file: shared.ktr}\n  - {name: c, tool: nosuch}\n', cfgPath);
    const scripts = resolveScripts(cfg, cfgPath, new Map([['syscount', '/x/syscount.ktr']]));
    expect(scripts[0]).toEqual({ name: 'a', path: join(dir, 'mine.ktr'), text: 'BEGIN { }\n', args: [], labels: { node: 'n2', x: 'y' }, print: false });
    expect(scripts[1]!.text).toEqual({ problem: `not using the script ${join(dir, 'shared.ktr')}: it is writable by its group (mode 664)` });
    expect(scripts[2]!.text).toEqual({ problem: "no stdlib tool named 'nosuch' (kafkatrace run --list shows them)" });
    const hostile = parseConfig('scripts: [{name: a, file: "x\\e]0;t\\a.ktr"}]\n', cfgPath);
    expect(resolveScripts(hostile, cfgPath, new Map())[0]!.text).toEqual({ problem: `cannot read the script ${dir}/x\\x1b]0;t\\x07.ktr: no such file` });
  });
});

/** Documents both judge; `valid` says what both must say. */
const EXAMPLES: { doc: string; valid: boolean }[] = [
  { doc: 'scripts: []', valid: true },
  { doc: 'listen: 0.0.0.0:9100\nlabels: {node: a, cluster: b}\nmax_series: 3\nscripts:\n  - {name: x1, tool: syscount, args: [1, two], labels: {team: t}}\n  - {name: y, file: a.ktr}', valid: true },
  { doc: 'listen: "9464"\nscripts: []', valid: true },
  { doc: 'listen: "[::1]:9464"\nscripts: []', valid: true },
  { doc: 'labels: {}', valid: false },
  { doc: 'scripts: {}', valid: false },
  { doc: 'scripts: []\nextra: 1', valid: false },
  { doc: 'listen: 9464\nscripts: []', valid: false },
  { doc: 'listen: "a b:1"\nscripts: []', valid: false },
  { doc: 'max_series: 0\nscripts: []', valid: false },
  { doc: 'max_series: 1.5\nscripts: []', valid: false },
  { doc: 'max_series: "10"\nscripts: []', valid: false },
  { doc: 'labels: {__n: a}\nscripts: []', valid: false },
  { doc: 'labels: {script: a}\nscripts: []', valid: false },
  { doc: 'labels: {1a: a}\nscripts: []', valid: false },
  { doc: 'labels: {a: [1]}\nscripts: []', valid: false },
  { doc: 'labels: {a: "${PATH}-$1"}\nscripts: []', valid: true },
  { doc: 'labels: {a: "${1X}"}\nscripts: []', valid: false },
  { doc: 'labels: {a: "${PATH"}\nscripts: []', valid: false },
  { doc: 'scripts: [{tool: x}]', valid: false },
  { doc: 'scripts: [{name: a}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, file: y}]', valid: false },
  { doc: 'scripts: [{name: A, tool: x}]', valid: false },
  { doc: 'scripts: [{name: agent, tool: x}]', valid: false },
  { doc: 'scripts: [{name: a, tool: 3}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, print: true}]', valid: true },
  { doc: 'scripts: [{name: a, tool: x, print: "yes"}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, print: 1}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, args: [[1]]}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, args: "1"}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, labels: {b: 1}}]', valid: false },
  { doc: 'scripts: [{name: a, tool: x, other: 1}]', valid: false },
  { doc: '[]', valid: false },
  { doc: 'kafka: {netns: /proc/self/ns/net}\nscripts: []', valid: true },
  { doc: 'kafka: {}\nscripts: []', valid: true },
  { doc: 'kafka: {netns: 3}\nscripts: []', valid: false },
  { doc: 'kafka: {other: a}\nscripts: []', valid: false },
  { doc: 'kafka: []\nscripts: []', valid: false },
];

describe('the published schema', () => {
  it.each(EXAMPLES)('agrees with the validator on $doc', ({ doc, valid }) => {
    const bySchema = schemaErrors(SCHEMA, parseYaml(doc), SCHEMA);
    let validatorError: string | undefined;
    try {
      parseConfig(doc, 'x.yaml');
    } catch (e) {
      validatorError = (e as Error).message;
    }
    expect({ schema: bySchema.length === 0, validator: validatorError === undefined }).toEqual({ schema: valid, validator: valid });
  });

  it('has a description for every field it defines', () => {
    const props = { ...(SCHEMA.properties ?? {}), ...(SCHEMA.$defs!['script']!.properties ?? {}) };
    expect(Object.entries(props).filter(([, p]) => !p.description).map(([k]) => k)).toEqual([]);
  });
});
