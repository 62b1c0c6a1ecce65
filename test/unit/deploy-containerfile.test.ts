// deploy/Containerfile, checked without a container engine: Debian 12 stages, the repository paths
// it copies exist and hold what the build and the agent read, the set-up it runs is the project's
// own, the packages of the final stage are those the build used, and the entrypoint is the agent
// with the configuration where the DaemonSet mounts it.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ROOT } from '../helpers/cli.js';

const CONTAINERFILE = join(ROOT, 'deploy', 'Containerfile');
const INSTALL = join(ROOT, 'scripts', 'install-deps.sh');

interface Instruction {
  op: string;
  args: string;
}

/** The instructions, continuation lines joined, comments left out. */
function instructions(text: string): Instruction[] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const m = /^(\S+)\s+(.*)$/.exec(l)!;
      return { op: m[1]!.toUpperCase(), args: m[2]! };
    });
}

/** The Debian packages install-deps.sh installs to build kafkatrace (its --agent set). */
function buildPackages(): string[] {
  const m = /^build_packages=\(([^)]*)\)$/m.exec(readFileSync(INSTALL, 'utf8'));
  return m ? m[1]!.trim().split(/\s+/) : [];
}

/** Everything that keeps the Containerfile from building the agent's image as the DaemonSet runs it. */
function containerfileProblems(text: string): string[] {
  const problems: string[] = [];
  const ins = instructions(text);
  const froms = ins.filter((i) => i.op === 'FROM').map((i) => i.args.split(/\s+/)[0]!);
  if (froms.length !== 2) problems.push(`${froms.length} stages, not a build stage and the image`);
  const engine = /^>=(\d+)\./.exec((JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node)![1];
  for (const f of froms) {
    if (!f.startsWith(`docker.io/library/node:${engine}-bookworm`)) problems.push(`${f} is not Node.js ${engine} on Debian 12 (bookworm)`);
  }
  const finalStage = ins.map((i) => i.op).lastIndexOf('FROM');
  const copied: string[] = [];
  for (const c of ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
    const paths = c.args.split(/\s+/);
    const dest = paths.at(-1)!;
    // Files into the working directory, a folder to its own name: the repository's layout.
    if (dest !== './' && (paths.length !== 2 || dest !== paths[0])) problems.push(`COPY ${c.args}: not to the repository's layout`);
    for (const src of paths.slice(0, -1)) {
      if (!existsSync(join(ROOT, src))) problems.push(`COPY ${src}: not in the repository`);
      copied.push(src);
    }
  }
  const isCopied = (path: string): boolean => copied.some((c) => path === c || path.startsWith(`${c}/`));
  // What the build reads (tsconfig, binding.gyp, the npm scripts) and what the agent reads at run time.
  const tsconfig = JSON.parse(readFileSync(join(ROOT, 'tsconfig.json'), 'utf8')) as { include: string[] };
  const gyp = JSON.parse(readFileSync(join(ROOT, 'binding.gyp'), 'utf8')) as { targets: { sources: string[] }[] };
  const needed = [
    ...tsconfig.include.map((g) => g.split('/')[0]!),
    ...gyp.targets.flatMap((t) => t.sources),
    'scripts/install-deps.sh',
    'scripts/build-native.mjs',
    'scripts/build-kafka.mjs',
    'scripts/build-pch.mjs',
    'bin/kafkatrace.js',
    'stdlib/kafka-probes.json',
    'bpf-templates/kafka-capture.bpf.c',
    ...['kafka-overview', 'kafka-lag', 'kafka-rebalances', 'kafka-latency', 'kafka-errors'].map((t) => `stdlib/${t}.ktr`),
  ];
  for (const n of needed) if (!isCopied(n)) problems.push(`${n} is not copied`);
  const runs = ins.slice(0, finalStage).filter((i) => i.op === 'RUN');
  if (!runs.some((r) => r.args.startsWith('scripts/install-deps.sh --agent'))) problems.push('the build stage does not run scripts/install-deps.sh --agent');
  const apt = ins.slice(finalStage).find((i) => i.op === 'RUN' && i.args.includes('apt-get install'));
  const packages = apt ? apt.args.split('apt-get install')[1]!.split(/[&>|]/)[0]!.split(/\s+/).filter((w) => w !== '' && !w.startsWith('-')) : [];
  if (packages.length === 0) problems.push('the image installs no packages');
  for (const p of packages) if (!buildPackages().includes(p)) problems.push(`the image installs ${p}, which the build did not use`);
  const entry = ins.find((i) => i.op === 'ENTRYPOINT');
  const workdir = ins.slice(0, finalStage).find((i) => i.op === 'WORKDIR')?.args;
  if (JSON.stringify(JSON.parse(entry?.args ?? '[]')) !== JSON.stringify(['node', `${workdir}/bin/kafkatrace.js`, 'agent'])) {
    problems.push(`the entrypoint is ${entry?.args}, not node ${workdir}/bin/kafkatrace.js agent`);
  }
  const cmd = JSON.parse(ins.find((i) => i.op === 'CMD')?.args ?? '[]') as string[];
  const ds = parse(readFileSync(join(ROOT, 'deploy', 'kubernetes', 'daemonset.yaml'), 'utf8')) as {
    spec: { template: { spec: { containers: { name: string; image: string; args: string[] }[] } } };
  };
  const agent = ds.spec.template.spec.containers.find((c) => c.name === 'agent')!;
  if (JSON.stringify(cmd) !== JSON.stringify(agent.args)) problems.push(`CMD ${JSON.stringify(cmd)} is not the DaemonSet's args ${JSON.stringify(agent.args)}`);
  if (!text.includes(`-t ${agent.image} `)) problems.push(`the build command does not tag the image ${agent.image} the DaemonSet runs`);
  return problems;
}

describe('the Containerfile', () => {
  const text = readFileSync(CONTAINERFILE, 'utf8');

  it('builds the agent on Debian 12 with the project set-up, copying what exists, entrypoint the agent', () => {
    expect(containerfileProblems(text)).toEqual([]);
  });

  it('runs a set-up script that exists, is executable and has the agent-only mode', () => {
    accessSync(INSTALL, constants.X_OK);
    expect(readFileSync(INSTALL, 'utf8')).toMatch(/^ {2}--agent\) agent=true ;;$/m);
    expect(buildPackages()).toEqual(expect.arrayContaining(['clang', 'libbpf-dev', 'libelf-dev', 'zlib1g-dev', 'g++', 'make', 'python3']));
  });

  it('is refused, broken', () => {
    expect(containerfileProblems(text.replace('COPY stdlib stdlib\n', ''))).toEqual(
      expect.arrayContaining(['stdlib/kafka-probes.json is not copied', 'stdlib/kafka-lag.ktr is not copied']),
    );
    expect(containerfileProblems(text.replace('COPY src src', 'COPY src sources'))).toEqual(['COPY src sources: not to the repository\'s layout']);
    expect(containerfileProblems(text.replace('COPY bin bin', 'COPY bins bins'))).toEqual(['COPY bins: not in the repository', 'bin/kafkatrace.js is not copied']);
    expect(containerfileProblems(text.replaceAll('node:20-bookworm-slim', 'node:20-alpine'))).toHaveLength(2);
    expect(containerfileProblems(text.replace('RUN scripts/install-deps.sh --agent', 'RUN scripts/install-deps.sh'))).toEqual(['the build stage does not run scripts/install-deps.sh --agent']);
    expect(containerfileProblems(text.replace(' clang libbpf-dev', ' clang-16 libbpf-dev'))).toEqual(['the image installs clang-16, which the build did not use']);
    expect(containerfileProblems(text.replace('kafkatrace.js", "agent"', 'kafkatrace.js", "run"'))).toHaveLength(1);
    expect(containerfileProblems(text.replace('"/etc/kafkatrace/agent.yaml"]', '"/etc/agent.yaml"]'))).toHaveLength(1);
  });
});
