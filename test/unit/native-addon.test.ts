// The addon's object handling that needs no root: opening an object from memory, listing its
// programs and maps, setting read-only globals and map sizes before load, and its error messages.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ADDON_PATH, isNativeError, loadNative, openObject } from '../../src/native/index.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

function addonBuilt(): boolean {
  if (existsSync(join(ROOT, ADDON_PATH))) return true;
  if (process.env.CI === 'true') throw new Error(`${ADDON_PATH} is not built`);
  console.log(`skipping addon tests: ${ADDON_PATH} is not built (node scripts/build-native.mjs)`);
  return false;
}

function fixtureObject(): Buffer {
  const out = join(ROOT, 'build', 'test', 'probes-unit.bpf.o');
  mkdirSync(dirname(out), { recursive: true });
  const src = join(ROOT, 'test', 'fixtures', 'runtime', 'probes.bpf.c');
  execFileSync('clang', ['-target', 'bpf', '-O2', '-g', '-D__TARGET_ARCH_x86', '-I/usr/include/x86_64-linux-gnu', '-c', src, '-o', out]);
  return readFileSync(out);
}

describe.runIf(addonBuilt())('native addon without loading', () => {
  const elf = fixtureObject();

  it('reports libbpf 1.x and the possible CPUs', () => {
    const native = loadNative();
    expect(native.libbpfVersion()).toMatch(/^v1\./);
    expect(native.numPossibleCpus()).toBeGreaterThan(0);
  });

  it('lists programs and maps of an object opened from memory', () => {
    const obj = openObject(elf);
    try {
      expect(obj.programNames()).toContain('ktfx_getppid');
      const maps = obj.mapInfo();
      const events = maps.find((m) => m.name === 'events');
      expect(events).toMatchObject({ type: 27, maxEntries: 4096 });
      expect(maps.find((m) => m.name === 'm_sizes')).toMatchObject({ keySize: 4, valueSize: 528, type: 5 });
      obj.setMaxEntries('events', 1 << 20);
      expect(obj.mapInfo().find((m) => m.name === 'events')?.maxEntries).toBe(1 << 20);
    } finally {
      obj.close();
    }
  });

  it('sets read-only globals by name and checks their size', () => {
    const obj = openObject(elf);
    try {
      obj.setGlobal('kt_target_pid', Buffer.from([1, 2, 3, 4]));
      obj.setGlobal('kt_start_ns', Buffer.alloc(8));
      expect(() => obj.setGlobal('kt_start_ns', Buffer.alloc(4))).toThrow("global 'kt_start_ns' has 8 bytes, not 4");
      expect(() => obj.setGlobal('nope', Buffer.alloc(4))).toThrow("no global 'nope' in .rodata");
    } finally {
      obj.close();
    }
  });

  it('refuses what needs a loaded object, and names missing programs and maps', () => {
    const obj = openObject(elf);
    expect(() => obj.mapDump('m_calls')).toThrow('the BPF object is not loaded yet');
    expect(() => obj.setMaxEntries('nope', 1)).toThrow("no map 'nope' in the BPF object");
    obj.close();
    expect(() => obj.programNames()).toThrow('the BPF object is closed');
    obj.close();
  });

  it('fails to open bytes that are not an ELF object with an errno', () => {
    let caught: unknown;
    try {
      openObject(Buffer.from('not an ELF file at all'));
    } catch (e) {
      caught = e;
    }
    expect(isNativeError(caught)).toBe(true);
    expect((caught as Error).message).toMatch(/^cannot open the BPF object: /);
  });
});
