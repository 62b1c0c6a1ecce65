// Time zone abbreviations (%Z) from the system's TZif files, as the C library takes them: the local
// zone is $TZ (a zoneinfo name) or /etc/localtime. Intl only knows abbreviations for a few locales.
import { readFileSync } from 'node:fs';

interface ZoneType {
  /** Seconds east of UTC. */
  utoff: number;
  isdst: boolean;
  abbr: string;
}

interface ZoneInfo {
  types: ZoneType[];
  /** Transition times (seconds since the epoch) and the type that applies from each. */
  transitions: { at: number; type: number }[];
}

/** The local time types and transitions of a TZif file (its 64-bit section when it has one). */
function parseTzif(bytes: Uint8Array): ZoneInfo {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = String.fromCharCode(...bytes.subarray(0, 4));
  if (bytes.length < 44 || magic !== 'TZif') return { types: [], transitions: [] };
  const counts = (at: number) => Array.from({ length: 6 }, (_, i) => dv.getUint32(at + 20 + i * 4));
  const block = (at: number, timeSize: number) => {
    const [isut, isstd, leap, time, type, chars] = counts(at) as [number, number, number, number, number, number];
    const types = at + 44 + time * timeSize + time;
    const abbrs = types + type * 6;
    const end = abbrs + chars + leap * (timeSize + 4) + isstd + isut;
    return { at, timeSize, time, type, types, abbrs, chars, end };
  };
  let b = block(0, 4);
  if (bytes[4]! >= 0x32 && b.end + 44 <= bytes.length) b = block(b.end, 8);
  const transitions: ZoneInfo['transitions'] = [];
  for (let i = 0; i < b.time; i++) {
    const t = b.at + 44 + i * b.timeSize;
    const at = b.timeSize === 8 ? Number(dv.getBigInt64(t)) : dv.getInt32(t);
    transitions.push({ at, type: bytes[b.at + 44 + b.time * b.timeSize + i]! });
  }
  const out: ZoneType[] = [];
  for (let i = 0; i < b.type; i++) {
    const at = b.types + i * 6;
    const start = b.abbrs + bytes[at + 5]!;
    let stop = start;
    while (stop < b.abbrs + b.chars && bytes[stop] !== 0) stop++;
    out.push({ utoff: dv.getInt32(at), isdst: bytes[at + 4] !== 0, abbr: String.fromCharCode(...bytes.subarray(start, stop)) });
  }
  return { types: out, transitions };
}

function localZoneFile(): string | undefined {
  const tz = process.env['TZ'];
  if (tz === undefined) return '/etc/localtime';
  if (tz === '') return undefined; // an empty TZ is UTC to the C library
  const name = tz.startsWith(':') ? tz.slice(1) : tz;
  if (name.startsWith('/')) return name;
  return /^[A-Za-z0-9_+-]+(\/[A-Za-z0-9_+-]+)*$/.test(name) ? `/usr/share/zoneinfo/${name}` : undefined;
}

let cached: { key: string | undefined; zone: ZoneInfo } | undefined;

/**
 * The abbreviation of the local zone at time `seconds` (since the epoch), whose offset is utoff
 * (seconds east): the type of the latest transition at or before it with that offset (times after
 * the last transition follow its rules, so the latest such transition names them too).
 */
export function localZoneAbbreviation(seconds: number, utoff: number): string | undefined {
  const key = process.env['TZ'];
  if (!cached || cached.key !== key) {
    let zone: ZoneInfo = { types: [], transitions: [] };
    const file = localZoneFile();
    try {
      if (file) zone = parseTzif(readFileSync(file));
    } catch {
      zone = { types: [], transitions: [] };
    }
    cached = { key, zone };
  }
  const { types, transitions } = cached.zone;
  const fits = (i: number): boolean => types[i]?.utoff === utoff;
  for (let i = transitions.length - 1; i >= 0; i--) {
    const t = transitions[i]!;
    if (t.at <= seconds && fits(t.type)) return types[t.type]!.abbr;
  }
  return types.find((_, i) => fits(i))?.abbr;
}
