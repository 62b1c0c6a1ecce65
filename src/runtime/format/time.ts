// strftime(3) in local time, for time(fmt): the C library's conversions that scripts use, so output
// matches what bpftrace (which calls strftime) prints. An unknown conversion is copied as written.
import { localZoneAbbreviation } from './tzif.js';

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const MONTHS = [
  'January', 'February', 'March', 'April', 'May', 'June',
  'July', 'August', 'September', 'October', 'November', 'December',
];

const two = (n: number): string => String(n).padStart(2, '0');

function dayOfYear(d: Date): number {
  const start = new Date(d.getFullYear(), 0, 1);
  const startUtc = Date.UTC(start.getFullYear(), 0, 1);
  const dayUtc = Date.UTC(d.getFullYear(), d.getMonth(), d.getDate());
  return Math.round((dayUtc - startUtc) / 86400000) + 1;
}

/** The time zone abbreviation, e.g. `UTC`, `CET`; `GMT+1`-style names when the system has none. */
function zoneName(d: Date): string {
  const fromFile = localZoneAbbreviation(Math.floor(d.getTime() / 1000), -d.getTimezoneOffset() * 60);
  if (fromFile) return fromFile;
  const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' })
    .formatToParts(d)
    .find((p) => p.type === 'timeZoneName');
  return part?.value ?? '';
}

function zoneOffset(d: Date): string {
  const minutes = -d.getTimezoneOffset();
  const sign = minutes < 0 ? '-' : '+';
  const abs = Math.abs(minutes);
  return sign + two(Math.floor(abs / 60)) + two(abs % 60);
}

function convert(c: string, d: Date): string | undefined {
  const hour12 = d.getHours() % 12 === 0 ? 12 : d.getHours() % 12;
  switch (c) {
    case 'a': return DAYS[d.getDay()]!.slice(0, 3);
    case 'A': return DAYS[d.getDay()]!;
    case 'b':
    case 'h': return MONTHS[d.getMonth()]!.slice(0, 3);
    case 'B': return MONTHS[d.getMonth()]!;
    case 'c': return `${convert('a', d)} ${convert('b', d)} ${convert('e', d)} ${convert('T', d)} ${d.getFullYear()}`;
    case 'C': return two(Math.floor(d.getFullYear() / 100));
    case 'd': return two(d.getDate());
    case 'D': return `${two(d.getMonth() + 1)}/${two(d.getDate())}/${two(d.getFullYear() % 100)}`;
    case 'e': return String(d.getDate()).padStart(2, ' ');
    case 'F': return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
    case 'H': return two(d.getHours());
    case 'I': return two(hour12);
    case 'j': return String(dayOfYear(d)).padStart(3, '0');
    case 'k': return String(d.getHours()).padStart(2, ' ');
    case 'l': return String(hour12).padStart(2, ' ');
    case 'm': return two(d.getMonth() + 1);
    case 'M': return two(d.getMinutes());
    case 'n': return '\n';
    case 'p': return d.getHours() < 12 ? 'AM' : 'PM';
    case 'P': return d.getHours() < 12 ? 'am' : 'pm';
    case 'r': return `${two(hour12)}:${two(d.getMinutes())}:${two(d.getSeconds())} ${convert('p', d)}`;
    case 'R': return `${two(d.getHours())}:${two(d.getMinutes())}`;
    case 's': return String(Math.floor(d.getTime() / 1000));
    case 'S': return two(d.getSeconds());
    case 't': return '\t';
    case 'T': return `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
    case 'u': return String(d.getDay() === 0 ? 7 : d.getDay());
    case 'w': return String(d.getDay());
    case 'x': return convert('D', d);
    case 'X': return convert('T', d);
    case 'y': return two(d.getFullYear() % 100);
    case 'Y': return String(d.getFullYear());
    case 'z': return zoneOffset(d);
    case 'Z': return zoneName(d);
    case '%': return '%';
    default: return undefined;
  }
}

let monotonicToWallNs: bigint | undefined;

/** The wall-clock time, in ns since the epoch, of a CLOCK_MONOTONIC timestamp (bpf_ktime_get_ns(), `nsecs`). */
export function monotonicWallNs(ns: bigint): bigint {
  monotonicToWallNs ??= BigInt(Date.now()) * 1_000_000n - process.hrtime.bigint();
  return ns + monotonicToWallNs;
}

export function strftime(format: string, date: Date): string {
  let out = '';
  for (let i = 0; i < format.length; i++) {
    const ch = format[i]!;
    if (ch !== '%' || i + 1 >= format.length) {
      out += ch;
      continue;
    }
    const c = format[++i]!;
    out += convert(c, date) ?? '%' + c;
  }
  return out;
}
