// A network namespace named by a path (/run/netns/NAME as `ip netns add` makes it, /proc/PID/ns/net)
// as the capture's kt_netns filter wants it: the namespace's inode number, the st_ino of a file of the
// namespace filesystem (nsfs). Nothing is read from the file and nothing joins the namespace, so any
// path is safe to give. The file is opened only to tell a namespace's kind where the kernel says it
// (/proc/PID/ns/mnt reads back as mnt:[INODE]); a bind mount of another kind of namespace
// (/run/netns/NAME holding a mount namespace) cannot be told apart: it matches no socket, and
// nothing is captured.
import { closeSync, constants, openSync, readlinkSync, statfsSync, statSync } from 'node:fs';

/** statfs's f_type of nsfs (linux/magic.h). */
const NSFS_MAGIC = 0x6e736673;

/** The inode, or why the path is not a network namespace (a phrase to follow the path; the caller escapes the path). */
export type NetnsResult = { ok: true; inode: number } | { ok: false; reason: string };

const NOT_NETNS = 'is not a network namespace (ip netns add makes them in /run/netns; /proc/PID/ns/net is a process\'s)';

/** The inode number of the network namespace at `path`, or why `path` is not one. */
export function netnsInode(path: string): NetnsResult {
  let ino: bigint;
  try {
    const s = statSync(path, { bigint: true });
    if (!s.isFile() || statfsSync(path).type !== NSFS_MAGIC) return { ok: false, reason: NOT_NETNS };
    ino = s.ino;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    return { ok: false, reason: `cannot be read: ${code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : (code ?? String(e))}` };
  }
  let fd: number | undefined;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    const kind = /^(\w+):\[(\d+)\]$/.exec(readlinkSync(`/proc/self/fd/${fd}`));
    if (kind && kind[1] !== 'net') return { ok: false, reason: `is a ${kind[1]} namespace, not a network namespace` };
    return { ok: true, inode: Number(ino) };
  } catch (e) {
    return { ok: false, reason: `cannot be read: ${(e as NodeJS.ErrnoException).code ?? String(e)}` };
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}
