// A uprobe's args from the binary's DWARF (the fake system's /opt/app/server): each parameter's type
// and position, the records its pointers lead to, and the register each read becomes.
import { describe, expect, it } from 'vitest';
import type { Expr } from '../../src/frontend/ast.js';
import { frontend } from '../../src/frontend/index.js';
import { planScript } from '../../src/compiler.js';
import { FakeSystem } from '../fixtures/analysis/fake-system.js';

const env = { positional: [], unsafe: false, system: new FakeSystem() };
const SERVER = 'uprobe:/opt/app/server:handle';

function value(expr: string, preamble = '', probe = SERVER): Extract<Expr, { kind: 'field' }> {
  const r = frontend(`${preamble} ${probe} { @ = ${expr}; }`, 'a.ktr', env);
  expect(r.diagnostics.map((d) => `${d.loc.line}:${d.loc.col}: ${d.message}`)).toEqual([]);
  const stmt = r.script!.probes[0]!.body[0]!;
  if (stmt.kind !== 'mapAssign' || stmt.value.kind !== 'field') throw new Error('not a field');
  return stmt.value;
}

const REQUEST = { kind: 'struct', name: 'struct Request', size: 40 } as const;

describe('uprobe args from DWARF', () => {
  it('types each parameter and reads it from its position', () => {
    const fd = value('args.fd');
    expect(fd.type).toEqual({ kind: 'int', bits: 32, signed: true });
    expect(fd.argument).toBe(1);
    const req = value('args->req');
    expect(req.type).toEqual({ kind: 'ptr', to: REQUEST, space: 'user' });
    expect(req.argument).toBe(0);
    expect(value('args.argv', '', 'uprobe:/opt/app/server:main').argument).toBe(1);
  });

  it("reads members through the binary's records, in the traced process's memory", () => {
    const path = value('args->req->path');
    expect(path.type).toEqual({ kind: 'str', size: 16 });
    expect(path.offset).toBe(4);
    const codes = value('args->req->next->codes');
    expect(codes.type).toEqual({ kind: 'array', elem: { kind: 'int', bits: 16, signed: false }, length: 3 });
    expect(codes.offset).toBe(32);
    expect((codes.object as Extract<Expr, { kind: 'field' }>).type).toEqual({ kind: 'ptr', to: REQUEST, space: 'user' });
  });

  it('takes a cast struct from the DWARF of the probe binary before the kernel, and from the script before both', () => {
    // The kernel's struct sockaddr has sa_family; the binary's has only `only`.
    expect(value('((struct sockaddr *)arg0)->only').offset).toBe(0);
    expect(frontend(`${SERVER} { @ = ((struct sockaddr *)arg0)->sa_family; }`, 'a.ktr', env).diagnostics.map((d) => d.message)).toEqual([
      "struct sockaddr has no member 'sa_family'",
    ]);
    expect(value('((struct sockaddr *)arg0)->sa_data', '', 'uprobe:bash:readline').offset).toBe(2);
    const own = value('((struct Request *)arg0)->id2', 'struct Request { long id; int id2; }');
    expect(own.offset).toBe(8);
  });

  it('is the register the x86-64 SysV ABI passes the parameter in, at its declared width', () => {
    const r = planScript(`${SERVER} { printf("%d %s %d\\n", args.fd, str(args.name), args->req->id); }`, 'a.ktr', env);
    expect(r.diagnostics).toEqual([]);
    const c = r.ok ? r.compiled.c : '';
    expect(c).toContain('((__s32)((__s64)PT_REGS_PARM2(ctx)))');
    expect(c).toMatch(/bpf_probe_read_user_str\(.+?\(__u64\)\(\(__s64\)PT_REGS_PARM3\(ctx\)\)/s);
    expect(c).toMatch(/bpf_probe_read_user\(&\w+, 4, \(const void \*\)\(\(__u64\)\(\(\(__u64\)\(\(__s64\)PT_REGS_PARM1\(ctx\)\)\)\) \+ 0\)\)/);
  });
});
