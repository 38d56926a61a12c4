// A small, line-preserving WGSL preprocessor (ggml's pre_wgsl semantics, reduced):
//   #include "lib/x.wgsl"   #define NAME [value]   #undef NAME
//   #ifdef NAME / #ifndef NAME / #if <expr> / #elif <expr> / #else / #endif
//   #unroll VAR FROM TO … #endunroll   (repeats the lines for VAR = FROM … TO−1; VAR is replaced
//                                       as a whole word and as an identifier suffix `name_VAR`;
//                                       bounds are integers or defined names; nests)
// where <expr> uses defined(NAME), NAME (its value, or 0 when undefined), integers,
// ! && || == != < <= > >= and parentheses. Lines removed by a directive become empty
// lines, so a compiler message's line number inside one file maps back to that file;
// `lineMap` maps every output line to (file, line) for included and unrolled lines too.
// Defined names that carry a value are substituted as whole words in code lines.
//
// Why #unroll: register tiles must be fully unrolled to stay in registers, and Mesa's NIR
// unroller silently gives up on larger loop bodies (a 32×2 vec4 matmul tile ran at 2.7 instead
// of 19 GFLOP/s on lavapipe). The unrolled statements stay written once in the .wgsl file.

export type DefineValue = boolean | number | string;
export type Defines = Readonly<Record<string, DefineValue>>;

export interface Preprocessed {
  /** The WGSL source to compile. */
  code: string;
  /** For output line i (0-based): the source file and its 1-based line. */
  lineMap: { file: string; line: number }[];
}

export class WgslPreprocessError extends Error {
  override name = 'WgslPreprocessError';
}

const WORD = /[A-Za-z_][A-Za-z0-9_]*/g;

/** Turns a host-side defines object into the preprocessor's symbol table (false = undefined). */
function toSymbols(defines: Defines): Map<string, string> {
  const symbols = new Map<string, string>();
  for (const [name, value] of Object.entries(defines)) {
    if (value === false) {
      continue;
    }
    symbols.set(name, value === true ? '' : String(value));
  }
  return symbols;
}

/** Evaluates a #if expression. */
function evaluate(expr: string, symbols: Map<string, string>, where: string): boolean {
  const tokens = expr.match(/defined\s*\(\s*[A-Za-z_]\w*\s*\)|[A-Za-z_]\w*|\d+|&&|\|\||==|!=|<=|>=|[!<>()]/g) ?? [];
  let pos = 0;
  const peek = (): string | undefined => tokens[pos];
  const next = (): string => {
    const t = tokens[pos++];
    if (t === undefined) {
      throw new WgslPreprocessError(`${where}: unexpected end of #if expression '${expr}'`);
    }
    return t;
  };
  const value = (name: string): number => {
    const v = symbols.get(name);
    if (v === undefined) {
      return 0;
    }
    const n = Number(v === '' ? 1 : v);
    return Number.isFinite(n) ? n : 1;
  };
  const primary = (): number => {
    const t = next();
    if (t === '!') {
      return primary() ? 0 : 1;
    }
    if (t === '(') {
      const v = or();
      if (next() !== ')') {
        throw new WgslPreprocessError(`${where}: missing ')' in '${expr}'`);
      }
      return v;
    }
    const def = /^defined\s*\(\s*([A-Za-z_]\w*)\s*\)$/.exec(t);
    if (def) {
      return symbols.has(def[1]!) ? 1 : 0;
    }
    if (/^\d+$/.test(t)) {
      return Number(t);
    }
    if (/^[A-Za-z_]\w*$/.test(t)) {
      return value(t);
    }
    throw new WgslPreprocessError(`${where}: unexpected '${t}' in #if expression '${expr}'`);
  };
  const compare = (): number => {
    let v = primary();
    for (let op = peek(); op && ['==', '!=', '<', '<=', '>', '>='].includes(op); op = peek()) {
      next();
      const r = primary();
      v = Number(
        op === '=='
          ? v === r
          : op === '!='
            ? v !== r
            : op === '<'
              ? v < r
              : op === '<='
                ? v <= r
                : op === '>'
                  ? v > r
                  : v >= r,
      );
    }
    return v;
  };
  const and = (): number => {
    let v = compare();
    while (peek() === '&&') {
      next();
      const r = compare();
      v = v && r ? 1 : 0;
    }
    return v;
  };
  const or = (): number => {
    let v = and();
    while (peek() === '||') {
      next();
      const r = and();
      v = v || r ? 1 : 0;
    }
    return v;
  };
  const result = or();
  if (pos !== tokens.length) {
    throw new WgslPreprocessError(`${where}: trailing tokens in #if expression '${expr}'`);
  }
  return result !== 0;
}

/**
 * Preprocesses `file` (a key of `files`) with the given defines.
 * @param files all kernel sources by path relative to kernels/ (e.g. 'lib/reduce.wgsl').
 */
export function preprocess(file: string, files: Readonly<Record<string, string>>, defines: Defines): Preprocessed {
  const symbols = toSymbols(defines);
  const out: string[] = [];
  const lineMap: { file: string; line: number }[] = [];
  const substitute = (line: string): string => {
    if (symbols.size === 0) {
      return line;
    }
    return line.replace(WORD, (w) => {
      const v = symbols.get(w);
      return v === undefined || v === '' ? w : v;
    });
  };

  const run = (name: string, stack: string[]): void => {
    const src = files[name];
    if (src === undefined) {
      throw new WgslPreprocessError(`kernel file not found: kernels/${name} (included from ${stack.at(-1) ?? 'host'})`);
    }
    if (stack.includes(name)) {
      throw new WgslPreprocessError(`#include cycle: ${[...stack, name].join(' -> ')}`);
    }
    // Each frame: is this branch active, has any branch of the chain been taken, was the parent active.
    const conds: { active: boolean; taken: boolean; parent: boolean }[] = [];
    const active = (): boolean => conds.length === 0 || conds[conds.length - 1]!.active;
    const entries = src.split('\n').map((text, i) => ({ text, line: i + 1 }));

    const process = (list: { text: string; line: number }[], loopVars: Map<string, string>): void => {
      for (let idx = 0; idx < list.length; idx++) {
        const { text: raw0, line } = list[idx]!;
        const where = `kernels/${name}:${line}`;
        const emit = (text: string): void => {
          out.push(text);
          lineMap.push({ file: name, line });
        };
        const m = /^\s*#\s*(\w+)\s*(.*?)\s*$/.exec(raw0);
        if (!m) {
          const raw = loopVars.size > 0 ? raw0.replace(WORD, (w) => unrollSubst(w, loopVars)) : raw0;
          emit(active() ? substitute(raw) : '');
          continue;
        }
        const directive = m[1] ?? '';
        const rest = m[2] ?? '';
        switch (directive) {
          case 'ifdef':
          case 'ifndef':
          case 'if': {
            const parent = active();
            let c: boolean;
            if (directive === 'if') {
              c = parent && evaluate(rest, symbols, where);
            } else {
              const has = symbols.has(rest.trim());
              c = parent && (directive === 'ifdef' ? has : !has);
            }
            conds.push({ active: c, taken: c, parent });
            break;
          }
          case 'elif': {
            const top = conds[conds.length - 1];
            if (!top) {
              throw new WgslPreprocessError(`${where}: #elif without #if`);
            }
            const c = top.parent && !top.taken && evaluate(rest, symbols, where);
            top.active = c;
            top.taken ||= c;
            break;
          }
          case 'else': {
            const top = conds[conds.length - 1];
            if (!top) {
              throw new WgslPreprocessError(`${where}: #else without #if`);
            }
            top.active = top.parent && !top.taken;
            top.taken = true;
            break;
          }
          case 'endif':
            if (!conds.pop()) {
              throw new WgslPreprocessError(`${where}: #endif without #if`);
            }
            break;
          case 'define':
            if (active()) {
              const d = /^([A-Za-z_]\w*)\s*(.*)$/.exec(rest);
              if (!d) {
                throw new WgslPreprocessError(`${where}: bad #define '${rest}'`);
              }
              symbols.set(d[1]!, substitute(d[2] ?? ''));
            }
            break;
          case 'undef':
            if (active()) {
              symbols.delete(rest.trim());
            }
            break;
          case 'include': {
            if (active()) {
              const inc = /^"([^"]+)"$/.exec(rest);
              if (!inc) {
                throw new WgslPreprocessError(`${where}: #include needs a quoted path`);
              }
              run(inc[1]!, [...stack, name]);
            }
            continue; // an include line itself produces no line of its own
          }
          case 'unroll': {
            const u = /^([A-Za-z_]\w*)\s+(\w+)\s+(\w+)$/.exec(rest);
            if (!u) {
              throw new WgslPreprocessError(`${where}: use #unroll VAR FROM TO`);
            }
            // The matching #endunroll (nesting counted).
            let depth = 1;
            let j = idx + 1;
            for (; j < list.length; j++) {
              if (/^\s*#\s*unroll\b/.test(list[j]!.text)) {
                depth++;
              } else if (/^\s*#\s*endunroll\b/.test(list[j]!.text)) {
                if (--depth === 0) {
                  break;
                }
              }
            }
            if (depth !== 0) {
              throw new WgslPreprocessError(`${where}: #unroll without #endunroll`);
            }
            emit('');
            const body = list.slice(idx + 1, j);
            if (active()) {
              const lo = bound(loopVars.get(u[2]!) ?? u[2]!, symbols, where);
              const hi = bound(loopVars.get(u[3]!) ?? u[3]!, symbols, where);
              for (let v = lo; v < hi; v++) {
                const inner = new Map(loopVars);
                inner.set(u[1]!, String(v));
                process(body, inner);
              }
            } else {
              for (const b of body) {
                out.push('');
                lineMap.push({ file: name, line: b.line });
              }
            }
            out.push('');
            lineMap.push({ file: name, line: list[j]!.line });
            idx = j;
            continue;
          }
          case 'endunroll':
            throw new WgslPreprocessError(`${where}: #endunroll without #unroll`);
          default:
            throw new WgslPreprocessError(`${where}: unknown directive #${directive}`);
        }
        emit('');
      }
    };
    process(entries, new Map());
    if (conds.length !== 0) {
      throw new WgslPreprocessError(`kernels/${name}: missing #endif`);
    }
  };
  run(file, []);
  return { code: out.join('\n'), lineMap };
}

/** `VAR` → value, and `name_VAR` → `name_value` (so unrolled bodies can declare b_0, b_1, …). */
function unrollSubst(word: string, vars: Map<string, string>): string {
  const whole = vars.get(word);
  if (whole !== undefined) {
    return whole;
  }
  const us = word.lastIndexOf('_');
  if (us > 0) {
    const v = vars.get(word.slice(us + 1));
    if (v !== undefined) {
      return `${word.slice(0, us + 1)}${v}`;
    }
  }
  return word;
}

/** Resolves an #unroll bound: an integer literal or a defined name with an integer value. */
function bound(tok: string, symbols: Map<string, string>, where: string): number {
  const v = /^\d+$/.test(tok) ? tok : symbols.get(tok);
  const n = v === undefined ? NaN : Number(v.replace(/u$/, ''));
  if (!Number.isInteger(n)) {
    throw new WgslPreprocessError(`${where}: #unroll bound '${tok}' is not an integer or a defined integer`);
  }
  return n;
}

/**
 * `file` and every file it may #include (under any defines), sorted: what a cache key over a
 * kernel's source must cover (lib/*.wgsl included).
 */
export function includeClosure(file: string, files: Readonly<Record<string, string>>): string[] {
  const seen = new Set<string>();
  const visit = (name: string): void => {
    if (seen.has(name)) {
      return;
    }
    seen.add(name);
    for (const m of (files[name] ?? '').matchAll(/^\s*#include\s+"([^"]+)"/gm)) {
      visit(m[1]!);
    }
  };
  visit(file);
  return [...seen].sort();
}
