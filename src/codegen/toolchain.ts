// Where the code generator's templates are at run time.
import { join } from 'node:path';
import { packageRoot } from '../package-root.js';

export function templatesDir(): string {
  return join(packageRoot(), 'bpf-templates');
}
