// Command templates for other runtimes: "python gen.py --model {model} -p {prompt} -o {output}".
// The template is split into arguments once (shell-like quotes, no shell), then each placeholder
// is replaced inside its argument, so a prompt with spaces or quotes stays one argument and
// nothing is ever interpreted by a shell.

export const PLACEHOLDERS = [
  'model', 'prompt', 'negative', 'seed', 'width', 'height', 'size', 'steps', 'sampler', 'scheduler', 'cfg', 'output', 'batch', 'dtype', 'threads',
] as const;
export type Placeholder = (typeof PLACEHOLDERS)[number];
export type Values = Record<Placeholder, string>;

/** Splits like a POSIX shell would for words: whitespace separates, '…' and "…" group, \ escapes. */
export function splitCommand(template: string): string[] {
  const out: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | undefined;
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (quote) {
      if (ch === quote) quote = undefined;
      else if (ch === '\\' && quote === '"' && i + 1 < template.length) cur += template[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
      inWord = true;
    } else if (ch === '\\' && i + 1 < template.length) {
      cur += template[++i];
      inWord = true;
    } else if (/\s/.test(ch)) {
      if (inWord) out.push(cur);
      cur = '';
      inWord = false;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} in command template ${JSON.stringify(template)}`);
  if (inWord) out.push(cur);
  return out;
}

/** The argv for one run; an unknown {name} is an error naming the known ones. */
export function expand(template: string, values: Values): string[] {
  const argv = splitCommand(template);
  if (argv.length === 0) throw new Error('empty command template');
  return argv.map((arg) =>
    arg.replace(/\{([a-z]+)\}/g, (whole, name: string) => {
      if (!(PLACEHOLDERS as readonly string[]).includes(name)) {
        throw new Error(`unknown placeholder ${whole} in command template; known: ${PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`);
      }
      return values[name as Placeholder];
    }),
  );
}
