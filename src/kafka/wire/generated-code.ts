// What the four code generators of src/kafka (the schema decoder's bodies, the fast lane's bodies and
// arg builders, the demand's arg builder) share: one rule for putting a name from a script, a
// schema or the wire into generated JavaScript, one place that compiles the source, and one cache of
// what was compiled, keyed on the generator's inputs. A decoder made again for the same inputs (a
// REPL block attached again, another decoder in the same process) reuses functions the JIT has
// already optimised rather than new ones that start cold.

/**
 * `s` as a JavaScript string literal that reads back as `s`. JSON quoting escapes quotes,
 * backslashes and control characters but leaves U+2028 and U+2029 raw, which end a `//` comment in
 * JavaScript source; they are escaped too, so a literal is safe in code and in comments alike.
 */
export function literal(s: string): string {
  return JSON.stringify(s).replace(/[\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16)}`);
}

/**
 * Whether a property load of `name` finds something on any object (Object.prototype's members):
 * generated code never makes a property of such a name, which every layer it reads would appear
 * to have.
 */
export function inherited(name: string): boolean {
  return name in Object.prototype;
}

const cache = new Map<string, unknown>();

/**
 * The value cached under `key`, made by `make` the first time (undefined is cached too). Keys are
 * the generator's name and its inputs, made with `literal` where they hold names.
 */
export function cached<T>(key: string, make: () => T): T {
  if (cache.has(key)) return cache.get(key) as T;
  const value = make();
  cache.set(key, value);
  return value;
}

/**
 * Compiles generated source as the body of a function of `params`, and calls it with `args`
 * (what the generated code may reach: nothing else of the module is in its scope).
 */
export function compile<T>(params: readonly string[], source: string, args: readonly unknown[]): T {
  return new Function(...params, source)(...args) as T;
}
