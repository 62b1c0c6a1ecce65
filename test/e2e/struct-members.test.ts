// Struct members through BTF, checked against the kernel's own account of a process: a workload with
// a random comm calls getppid(); what kafkatrace reads through curtask must be what /proc says.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compileScript } from '../../src/compiler.js';
import { realSystem } from '../../src/frontend/system.js';
import { createOutput } from '../../src/runtime/output.js';
import { runSession } from '../../src/runtime/session.js';
import { canRun, collector } from './runtime-helpers.js';

async function run(script: string, positional: string[]): Promise<string> {
  const r = await compileScript(script, 'members.ktr', { positional, unsafe: false, system: realSystem() });
  if (!r.ok) throw new Error(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`).join('\n'));
  const c = collector();
  await runSession(r.compiled.plan, r.compiled.object!, { signals: false, output: createOutput({ format: 'text', write: c.write, writeError: c.writeError }) });
  return c.text();
}

const SCRIPT = `t:syscalls:sys_enter_getppid /pid == $1/ {
  printf("%d %d %d %d %s|%s|\\n", curtask->tgid, curtask->pid, curtask->parent->pid, curtask->real_parent->tgid,
    curtask->comm, ((struct task_struct *)curtask)->group_leader->comm);
  exit();
}`;

/** A process that names itself `comm` and calls getppid() until it is killed. */
function workload(comm: string) {
  const py = `open('/proc/self/comm', 'w').write(${JSON.stringify(comm)})\nimport os, time\nwhile True:\n    os.getppid(); time.sleep(0.01)\n`;
  return spawn('python3', ['-c', py], { stdio: 'ignore' });
}

describe.runIf(canRun())('struct members against /proc', () => {
  it('curtask->tgid, ->parent->pid, ->real_parent->tgid and ->comm are what /proc/PID/stat says', async () => {
    const comm = `kt${randomBytes(6).toString('hex')}`.slice(0, 15);
    const child = workload(comm);
    try {
      const pid = child.pid!;
      // Wait until the workload has named itself, so that /proc and the probe see the same comm.
      for (let i = 0; i < 200 && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== comm; i++) await new Promise((r) => setTimeout(r, 10));
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const [, statComm, rest] = /^\d+ \((.*)\) (.*)$/s.exec(stat)!;
      const ppid = Number(rest!.split(' ')[1]);
      expect(statComm).toBe(comm);
      expect(ppid).toBe(process.pid);

      expect(await run(SCRIPT, [String(pid)])).toContain(`${pid} ${pid} ${ppid} ${ppid} ${comm}|${comm}|\n`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);

  it('args->rqtp->tv_sec and ->tv_nsec of clock_nanosleep are the duration sleep was given', async () => {
    // A shell whose children sleep a random number of milliseconds; the probe picks them by their parent.
    const ms = 1 + Math.floor(Math.random() * 998);
    const child = spawn('sh', ['-c', `while :; do sleep 0.${String(ms).padStart(3, '0')}; done`], { stdio: 'ignore' });
    try {
      const script = `t:syscalls:sys_enter_clock_nanosleep /curtask->real_parent->tgid == $1 && args->rqtp != 0/ {
        printf("%d %d\\n", args->rqtp->tv_sec, args->rqtp->tv_nsec); exit(); }`;
      expect(await run(script, [String(child.pid)])).toContain(`0 ${ms * 1_000_000}\n`);
    } finally {
      child.kill('SIGKILL');
    }
  }, 60_000);
});
