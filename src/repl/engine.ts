// The REPL's tracing state: every attached block is its own BPF object, and maps with the same name
// are one kernel map shared by fd (bpf_map__reuse_fd) between the objects that use them. Kafka blocks
// (and the interval and END blocks that use their maps) run in user space: one capture and decoder
// for the whole session feed them, and their maps live in one UserMaps.
import { compileC } from '../codegen/clang.js';
import { planScript } from '../compiler.js';
import { errorLine } from '../errors.js';
import { error, formatDiagnostic } from '../frontend/diagnostics.js';
import type { SystemInfo } from '../frontend/system.js';
import { isNativeError, openObject, type BpfObject } from '../native/index.js';
import { ringRecords } from '../native/ring-records.js';
import type { Plan, PlanMap, PlanProbe } from '../plan/types.js';
import { attachProgram, describeAttach, onlineCpus } from '../runtime/attach.js';
import { stackFrames } from '../runtime/decode.js';
import type { RenderContext } from '../runtime/format/value.js';
import { kafkaRuntime, type KafkaRuntime } from '../runtime/kafka-runtime.js';
import { createOutput, type Output } from '../runtime/output.js';
import { ensureTracefs, privilegeProblem } from '../runtime/privileges.js';
import { mapSnapshot, RecordDispatch } from '../runtime/records.js';
import { createSymbolizer } from '../runtime/symbols.js';
import type { MapSnapshot } from '../runtime/values.js';
import type { KafkaAttachment, KafkaFeed, KafkaFeedOptions } from '../runtime/kafka-source.js';
import { shapeMismatch } from './shared-maps.js';
import { UserMaps } from '../runtime/user-maps.js';
import { composeUnit, mapLoc, mentionedMaps, renderUnitDiagnostics, REPL_FILE, type CompileUnit } from './unit.js';
import { lostInObject, u32, u64 } from '../runtime/session.js';
import { isStackMap, stackMapName } from '../plan/layout.js';

const EVENTS_MAP = 'events';

interface EngineOptions {
  system: SystemInfo;
  /** Program output: printf records, maps, messages. */
  write: (s: string) => void;
  /** Diagnostics and errors. */
  writeError: (s: string) => void;
  /** Sends what `write` holds back (before system() runs a command on the same output). */
  flush?: () => void;
  /** --unsafe: system() and signal() are allowed. */
  unsafe?: boolean;
  /** C → BPF object; clang by default. */
  compile?: (c: string) => Promise<Buffer>;
  /** Starts the Kafka capture and decoder; startKafkaFeed by default. */
  startKafkaFeed?: (opts: KafkaFeedOptions) => KafkaFeed;
}

interface Block {
  id: number;
  /** The kernel part; absent when every probe of the block runs in user space. */
  obj?: BpfObject;
  probes: PlanProbe[];
  /** Kernel maps of the object by name, as this object's plan lays them out. */
  maps: Map<string, PlanMap>;
  /** Acts on the object's ring-buffer records. */
  records: RecordDispatch;
  /** The user-space maps the block uses. */
  userMaps: string[];
  /** The block's user-space probes on the session's kafka feed. */
  kafka?: KafkaAttachment;
  /** Shared internal maps the object holds. */
  internal: string[];
  /** Set by its first exit(): like bpftrace, what it sends after that is dropped. */
  exited: boolean;
}

interface LiveMap {
  map: PlanMap;
  /** The block whose compile unit declares the map (the first to use it). */
  declaredBy: number;
  holders: Set<number>;
}

function messageOf(e: unknown): string {
  if (isNativeError(e)) return `${e.message}${e.log ? `\n${e.log}` : ''}`;
  return e instanceof Error ? e.message : String(e);
}

export class ReplEngine {
  private readonly blocks = new Map<number, Block>();
  private readonly live = new Map<string, LiveMap>();
  /** Every block ever attached: its text and the blocks compiled with it (for later declarations). */
  private readonly units = new Map<number, { text: string; unit: number[] }>();
  private nextId = 1;
  /** Set by close(): a block still compiling then never attaches. */
  private closed = false;
  private readonly startNs = process.hrtime.bigint();
  private readonly out: Output;
  private readonly render: RenderContext = {
    symbols: createSymbolizer(),
    stackLookup: (id, limit) => this.stack(id, limit),
  };
  private readonly userMaps = new UserMaps([], (name, maxKeys) => this.out.mapFull({ name, maxKeys, dropped: 1 }, false));
  /** The capture and decoder, from the first kafka block attached until the last is detached. */
  private feed?: KafkaFeed;

  constructor(private readonly opts: EngineOptions) {
    this.out = createOutput({
      format: 'text',
      write: opts.write,
      writeError: opts.writeError,
      flush: opts.flush,
      symbols: this.render.symbols,
      stackLookup: this.render.stackLookup,
    });
  }

  /** Numbers of the attached blocks, in order. */
  blockIds(): number[] {
    return [...this.blocks.keys()];
  }

  mapNames(): string[] {
    return [...this.live.keys()].sort();
  }

  /** Compiles, loads and attaches one block; problems are reported, never thrown. Returns its number. */
  async submit(text: string): Promise<number | undefined> {
    if (text.trim() === '') return undefined;
    const declaring = this.declaringBlocks(text);
    const unit = composeUnit(text, declaring.map((b) => ({ block: b, text: this.units.get(b)!.text })));
    const r = planScript(unit.source, REPL_FILE, { positional: [], unsafe: this.opts.unsafe ?? false, system: this.opts.system });
    const fresh = (d: { loc: { line: number } }) => d.loc.line > unit.prefixLines;
    if (!r.ok) {
      this.opts.writeError(renderUnitDiagnostics(r.diagnostics, unit, text) + '\n');
      return undefined;
    }
    const warnings = r.diagnostics.filter(fresh);
    if (warnings.length > 0) this.opts.writeError(renderUnitDiagnostics(warnings, unit, text) + '\n');
    const { plan, script, c } = r.compiled;
    const isNew = (p: PlanProbe) => script.probes[p.index]!.loc.line > unit.prefixLines;
    const probes = plan.probes.filter(isNew);
    const kernelProbes = probes.filter((p) => p.where !== 'user');
    const userProbes = probes.filter((p) => p.where === 'user');
    // The declaring blocks' maps are held too: they are in the object, or the actions name them.
    const kernelMaps = kernelProbes.length > 0 ? plan.maps.filter((m) => m.home === 'kernel' && m.bpfName) : [];
    const userMaps = userProbes.length > 0 ? plan.maps.filter((m) => m.home === 'user') : [];
    for (const m of [...kernelMaps, ...userMaps]) {
      const live = this.live.get(m.name);
      const why = live && shapeMismatch(live.map, m);
      if (why) {
        this.opts.writeError(formatDiagnostic(error(REPL_FILE, mapLoc(text, m.name), why), text) + '\n');
        return undefined;
      }
    }
    const problem = this.privilegeProblem(probes);
    if (problem) {
      this.opts.writeError(errorLine(problem));
      return undefined;
    }
    const compiled = userProbes.length > 0 ? await this.compileUser(plan, userProbes, userMaps, unit, text) : undefined;
    if (compiled === false) return undefined;
    let elf: Buffer | undefined;
    if (kernelProbes.length > 0) {
      try {
        elf = await (this.opts.compile ?? compileC)(c);
      } catch (e) {
        this.dropUnheldUserMaps();
        this.opts.writeError(errorLine(messageOf(e)));
        return undefined;
      }
    }
    if (this.closed) return undefined;
    const id = this.nextId;
    const loaded = elf ? this.load(id, plan, elf, kernelProbes, kernelMaps) : undefined;
    if (elf && !loaded) {
      this.dropUnheldUserMaps();
      return undefined;
    }
    const block: Block = {
      id,
      obj: loaded?.obj,
      probes,
      maps: new Map(kernelMaps.map((m) => [m.name, m])),
      records: new RecordDispatch({ plan, obj: loaded?.obj, userMaps: this.userMaps, out: this.out, render: this.render }),
      userMaps: userMaps.map((m) => m.name),
      internal: loaded?.internal ?? [],
      exited: false,
    };
    if (compiled) {
      const feed = this.startFeed(compiled.runtime);
      if (!feed) {
        block.obj?.close();
        this.dropUnheldUserMaps();
        return undefined;
      }
      // What this block's probes read: the feed decodes only what its attached blocks need.
      const demand = compiled.runtime.kafkaDemand({ ...plan, probes: userProbes });
      block.kafka = feed.attach(compiled.probes, () => this.exitBlock(block), demand.args);
    }
    this.nextId++;
    this.blocks.set(id, block);
    this.units.set(id, { text, unit: [...new Set([...declaring.flatMap((b) => this.units.get(b)!.unit), id])] });
    for (const m of [...kernelMaps, ...userMaps]) {
      const live = this.live.get(m.name);
      if (live) live.holders.add(id);
      else this.live.set(m.name, { map: m, declaredBy: id, holders: new Set([id]) });
    }
    const kernelPoints = kernelProbes.reduce((n, p) => n + p.programs.reduce((k, prog) => k + prog.attach.length, 0), 0);
    const points = kernelPoints + (compiled ? compiled.runtime.kafkaProbeCount(compiled.probes) : 0);
    this.opts.write(`block ${id}: attached ${points} ${points === 1 ? 'probe' : 'probes'}\n`);
    const obj = block.obj;
    if (obj) {
      obj.ringStart(EVENTS_MAP, (batch) => this.onRecords(block, ringRecords(batch)));
      for (const prog of kernelProbes.flatMap((p) => p.programs).filter((p) => p.attach.some((a) => a.type === 'begin'))) {
        this.run(obj, prog.name);
      }
      this.drain(block);
    }
    return id;
  }

  /**
   * Compiles a block's user-space probes against the session's user maps (adding the block's new
   * ones); false, with the reason written, when user space cannot run them.
   */
  private async compileUser(plan: Plan, probes: PlanProbe[], maps: PlanMap[], unit: CompileUnit, text: string) {
    const runtime = await kafkaRuntime();
    const added = maps.filter((m) => !this.userMaps.has(m.name));
    for (const m of added) this.userMaps.add({ name: m.name, keyTypes: m.keyTypes, value: m.value, maxKeys: m.maxEntries });
    try {
      const opts = { maps: this.userMaps, output: this.out, positional: [], startNs: this.startNs };
      return { runtime, probes: probes.map((p) => runtime.compileUserProbe(plan, p, opts)) };
    } catch (e) {
      this.dropUnheldUserMaps();
      if (e instanceof runtime.InterpreterError) this.opts.writeError(renderUnitDiagnostics([e.diagnostic], unit, text) + '\n');
      else this.opts.writeError(errorLine(messageOf(e)));
      return false;
    }
  }

  /** The session's kafka feed, started with the first kafka block; undefined, with the reason written, when it cannot start. */
  private startFeed(runtime: KafkaRuntime): KafkaFeed | undefined {
    if (this.feed) return this.feed;
    try {
      // No kernel filter: the capture serves every kafka block typed later too.
      this.feed = (this.opts.startKafkaFeed ?? runtime.startKafkaFeed)({ output: this.out, capture: {} });
      return this.feed;
    } catch (e) {
      this.opts.writeError(errorLine(`cannot start the Kafka capture: ${messageOf(e)}`));
      return undefined;
    }
  }

  /** Forgets the user maps that no attached block holds (added for a block that did not attach). */
  private dropUnheldUserMaps(): void {
    for (const name of this.userMaps.names()) if (!this.live.has(name)) this.userMaps.remove(name);
  }

  /** exit() ends the block that called it, not the REPL; detaching waits for the caller to return. */
  private exitBlock(block: Block): void {
    if (block.exited) return;
    block.exited = true;
    setImmediate(() => {
      if (!this.blocks.has(block.id)) return;
      this.opts.write(`block ${block.id} called exit()\n`);
      this.detach(block.id);
    });
  }

  /** The blocks whose compile units declare the live maps the text mentions. */
  private declaringBlocks(text: string): number[] {
    const ids = new Set<number>();
    for (const name of mentionedMaps(text)) {
      const live = this.live.get(name);
      if (live) for (const b of this.units.get(live.declaredBy)!.unit) ids.add(b);
    }
    return [...ids].sort((a, b) => a - b);
  }

  private privilegeProblem(probes: PlanProbe[]): string | undefined {
    const problem = privilegeProblem();
    if (problem) return problem;
    // libbpf reads tracepoint ids from tracefs.
    if (probes.some((p) => p.programs.some((prog) => prog.attach.some((a) => a.type === 'tracepoint')))) return ensureTracefs();
    return undefined;
  }

  /** A holder's fd of a shared map, to reuse in a new object. */
  private sharedFd(bpfName: (b: Block) => string | undefined): number | undefined {
    for (const b of this.blocks.values()) {
      const n = bpfName(b);
      if (n && b.obj) return b.obj.mapFd(n);
    }
    return undefined;
  }

  private load(id: number, plan: Plan, elf: Buffer, probes: PlanProbe[], kernelMaps: PlanMap[]): { obj: BpfObject; internal: string[] } | undefined {
    let obj: BpfObject;
    try {
      obj = openObject(elf, `kt_repl_${id}`);
    } catch (e) {
      this.opts.writeError(errorLine(messageOf(e)));
      return undefined;
    }
    const mine = new Set(probes.flatMap((p) => p.programs.map((prog) => prog.name)));
    const present = new Set(obj.mapInfo().map((m) => m.name));
    // Stack maps are shared by every block too: a stack id must mean one stack to every block.
    const internal = [...present].filter(isStackMap);
    try {
      obj.setGlobal('kt_target_pid', u32(0));
      // One clock for every block: elapsed means time since the REPL started.
      obj.setGlobal('kt_start_ns', u64(this.startNs));
      if (plan.ringbufSize > 0) obj.setMaxEntries(EVENTS_MAP, plan.ringbufSize);
      for (const m of kernelMaps) {
        const fd = this.live.has(m.name) ? this.sharedFd((b) => b.maps.get(m.name)?.bpfName) : undefined;
        if (fd !== undefined) obj.reuseMapFd(m.bpfName!, fd);
      }
      for (const n of internal) {
        const fd = this.sharedFd((b) => (b.internal.includes(n) ? n : undefined));
        if (fd !== undefined) obj.reuseMapFd(n, fd);
      }
      // The declaring blocks are compiled in for their types only: their programs stay out of the kernel.
      for (const name of obj.programNames()) if (!mine.has(name)) obj.setAutoload(name, false);
      obj.load();
      const ctx = { cpus: onlineCpus() };
      for (const p of probes) for (const prog of p.programs) for (const a of prog.attach) attachProgram(obj, prog.name, a, ctx);
    } catch (e) {
      obj.close();
      const where = isNativeError(e) && e.program ? this.programPlace(probes, e.program) : '';
      this.opts.writeError(errorLine(`${messageOf(e)}${where}`));
      return undefined;
    }
    return { obj, internal };
  }

  private programPlace(probes: PlanProbe[], program: string): string {
    const prog = probes.flatMap((p) => p.programs).find((p) => p.name === program);
    return prog?.attach[0] ? ` (${describeAttach(prog.attach[0])})` : '';
  }

  private run(obj: BpfObject, program: string): void {
    try {
      obj.testRun(program);
    } catch (e) {
      this.out.error(messageOf(e));
    }
  }

  private drain(block: Block): void {
    if (block.obj) this.onRecords(block, ringRecords(block.obj.ringConsume()));
  }

  private onRecords(block: Block, records: Buffer[]): void {
    for (const record of records) {
      if (!this.blocks.has(block.id) || block.exited) return;
      if (block.records.act(record) !== undefined) this.exitBlock(block);
    }
  }

  /** A block holding the kernel map `name`, and its object. */
  private holder(name: string): { obj: BpfObject; map: PlanMap } | undefined {
    const live = this.live.get(name);
    if (!live) return undefined;
    for (const id of live.holders) {
      const block = this.blocks.get(id);
      const map = block?.maps.get(name);
      if (block?.obj && map) return { obj: block.obj, map };
    }
    return undefined;
  }

  private snapshot(name: string): MapSnapshot | undefined {
    if (this.live.get(name)?.map.home === 'user') return this.userMaps.snapshot(name);
    const h = this.holder(name);
    return h && mapSnapshot(h.map, h.obj, this.userMaps);
  }

  private stack(id: number, limit?: number): bigint[] | undefined {
    if (id < 0) return undefined;
    const map = stackMapName(limit);
    const block = [...this.blocks.values()].find((b) => b.internal.includes(map));
    const bytes = block?.obj?.mapLookup(map, u32(id))?.[0];
    if (!bytes) return undefined;
    return stackFrames(bytes);
  }

  /** `.probes`: one line per attached block. */
  listBlocks(): string {
    if (this.blocks.size === 0) return 'no blocks attached\n';
    return [...this.blocks.values()]
      .map((b) => {
        const maps = [...b.maps.keys(), ...b.userMaps].sort();
        return `${String(b.id).padStart(3)}  ${b.probes.map((p) => p.text).join(', ')}${maps.length ? `  (${maps.join(', ')})` : ''}\n`;
      })
      .join('');
  }

  /** `.maps`: every live map, as bpftrace prints them. */
  printMaps(): void {
    if (this.live.size === 0) {
      this.opts.write('no maps\n');
      return;
    }
    this.out.printMaps(this.mapNames().map((n) => this.snapshot(n)!), { atExit: false });
  }

  /** `.print @x` */
  printMap(name: string): void {
    const snap = this.snapshot(name);
    if (!snap) this.opts.writeError(this.noMap(name));
    else this.out.printMap(snap);
  }

  /** `.clear @x` */
  clearMap(name: string): void {
    const live = this.live.get(name);
    const h = live?.map.home === 'kernel' ? this.holder(name) : undefined;
    if (live?.map.home === 'user') this.userMaps.clear(name);
    else if (h) h.obj.mapClear(h.map.bpfName!);
    else {
      this.opts.writeError(this.noMap(name));
      return;
    }
    this.opts.write(`${name} cleared\n`);
  }

  private noMap(name: string): string {
    return `no map ${name}${this.live.size ? ` (live: ${this.mapNames().join(', ')})` : ' (no map is live)'}\n`;
  }

  /** `.detach N`: runs its END probes, removes its programs; its maps stay while another block uses them. */
  detach(id: number): boolean {
    const block = this.blocks.get(id);
    if (!block) {
      this.opts.writeError(`no block ${id} (.probes lists the attached blocks)\n`);
      return false;
    }
    const obj = block.obj;
    if (obj) {
      for (const prog of block.probes.flatMap((p) => p.programs).filter((p) => p.attach.some((a) => a.type === 'end'))) {
        this.run(obj, prog.name);
      }
      this.drain(block);
    }
    // Runs its user-space END blocks, after the firings the capture still holds.
    block.kafka?.detach();
    this.blocks.delete(id);
    // As a script's end does: what the kernel could not hand over is said, never silently dropped.
    let lost = obj ? lostInObject(obj) : 0n;
    obj?.close();
    if (block.kafka && this.feed && ![...this.blocks.values()].some((b) => b.kafka)) {
      this.feed.stop();
      lost += BigInt(this.feed.counters().lostRecords);
      this.feed = undefined;
    }
    if (lost > 0n) this.out.lost(lost);
    const gone: string[] = [];
    for (const [name, live] of this.live) {
      live.holders.delete(id);
      if (live.holders.size === 0) {
        this.live.delete(name);
        if (live.map.home === 'user') this.userMaps.remove(name);
        gone.push(name);
      }
    }
    this.opts.write(`block ${id} detached${gone.length ? `; maps no block uses any more are gone: ${gone.join(', ')}` : ''}\n`);
    return true;
  }

  /** Detaches everything without a word: `.exit`, Ctrl-C twice, the end of input. */
  close(): void {
    this.closed = true;
    for (const block of this.blocks.values()) block.obj?.close();
    this.feed?.close();
    this.feed = undefined;
    this.blocks.clear();
    this.live.clear();
  }
}
