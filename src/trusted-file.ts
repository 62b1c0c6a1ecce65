// Files kafkatrace acts on as root that another user could have written: a configuration that says
// what to load into the kernel, a kubeconfig that says where to go with whose credentials. Such a
// file is trusted once open: fstat of the descriptor says it is a regular file of root's or the
// running user's that nobody else can write.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { KtError, type ErrorCode } from './errors.js';

/** "writable by others" or "by its group", with the mode, for a file or directory whose mode lets another user write it. */
export function writableBy(s: Stats): string {
  return `writable by ${(s.mode & 0o002) !== 0 ? 'others' : 'its group'} (mode ${(s.mode & 0o7777).toString(8)})`;
}

/** How readTrustedFile names the file and fails. */
export interface TrustedFileOptions {
  /** What the file is, for messages: "the configuration", "the kubeconfig". */
  what: string;
  /** Its path as messages show it (control characters escaped by the caller). */
  shown: string;
  /** The KtError code of a refusal. */
  code: ErrorCode;
  /** Whether a symbolic link at the path's last step is followed (a kubeconfig is commonly linked). */
  followLinks: boolean;
}

/**
 * A file's bytes, refused with a KtError (`cannot read ...` or `not using ...: it belongs to ...`,
 * `... is writable by ...`) when it is not a regular file of root's or the running user's that only
 * its owner can write. The check is on the descriptor read, so the file cannot be swapped between them.
 */
export function readTrustedFile(path: string, opts: TrustedFileOptions): Buffer {
  const { what, shown, code } = opts;
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | (opts.followLinks ? 0 : constants.O_NOFOLLOW));
  } catch (e) {
    const errno = (e as NodeJS.ErrnoException).code;
    const why = errno === 'ENOENT' ? 'no such file' : errno === 'EACCES' ? 'permission denied' : errno === 'ELOOP' && !opts.followLinks ? 'it is a symbolic link' : (errno ?? String(e));
    throw new KtError(code, `cannot read ${what} ${shown}: ${why}`);
  }
  try {
    const s = fstatSync(fd);
    if (!s.isFile()) throw new KtError(code, `cannot read ${what} ${shown}: not a regular file`);
    const uid = process.geteuid?.() ?? s.uid;
    if (s.uid !== uid && s.uid !== 0) throw new KtError(code, `not using ${what} ${shown}: it belongs to uid ${s.uid}, not to uid ${uid} or root`);
    if ((s.mode & 0o022) !== 0) throw new KtError(code, `not using ${what} ${shown}: it is ${writableBy(s)}`);
    return readFileSync(fd);
  } finally {
    closeSync(fd);
  }
}
