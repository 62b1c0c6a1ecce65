// `kafkatrace kube`: run a script on a Kubernetes node as a Job (src/kube/run.ts).
import { KUBE_HELP, parseKubeArgs } from './args.js';
import { kubeRun, type KubeRunContext } from './run.js';

export { KUBE_HELP };

/** Runs `kafkatrace kube ARGV...`; resolves to the exit status. */
export async function kube(argv: string[], ctx: KubeRunContext): Promise<number> {
  const cmd = parseKubeArgs(argv);
  if (cmd.help) {
    ctx.write(KUBE_HELP());
    return 0;
  }
  return kubeRun(cmd, ctx);
}
