#!/usr/bin/env node
// Precompiles the system headers every generated BPF program includes (bpf-templates/kt_system.h)
// into build/kt_system.pch, so that a script's first compile does not parse them (src/codegen/pch.ts).
// Run by `npm run build`. Optional: without clang or libbpf's headers it says so and exits 0, and
// compiles simply parse the headers.
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { precompileSystemHeaders } = await import(pathToFileURL(join(root, 'dist', 'src', 'codegen', 'clang.js')).href);
const error = precompileSystemHeaders();
if (error) process.stderr.write(`build-pch: no precompiled headers (compiles will parse them): ${error.split('\n')[0]}\n`);
