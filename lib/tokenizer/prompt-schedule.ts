// A1111's prompt editing and alternation (modules/prompt_parser.py
// get_learned_conditioning_prompt_schedules): `[from:to:when]`, `[to:when]`, `[from::when]` switch
// text after a step (a number with "." is a fraction of the steps), `[a|b|c]` cycles per step.
// The result is A1111's schedule: [end_at_step, text] pairs, the text for steps up to end_at_step.
// Written from the grammar A1111 gives lark; text that does not parse is used as it is, as there.
//
//   promptSchedule('a [dog:cat:0.5]', 20)  // [[10, 'a dog'], [20, 'a cat']]
//   promptSchedule('[fe|]male', 4)         // [[1, 'female'], [2, 'male'], [3, 'female'], [4, 'male']]

type Node =
  | { kind: 'text'; text: string }
  | { kind: 'scheduled'; before: Node[] | null; after: Node[]; number: string; when?: number }
  | { kind: 'alternate'; options: Node[][] }
  | { kind: 'group'; open: string; parts: Node[][]; close: string }; // ( … ), ( … : … ), [ … ]: kept as written

const WS = /\s+/y;
const NUMBER = /[+-]?(?:(?:\d+\.\d*|\.\d+)(?:[eE][+-]?\d+)?|\d+(?:[eE][+-]?\d+)?)/y;

// Deeper bracket nesting than this is not parsed: the prompt is used as it is, as A1111 does when its
// parser gives up (Python's recursion limit). It bounds the parser's recursion on long prompts.
const MAX_NESTING = 64;
const BACKSLASH = 0x5c;

function nesting(s: string): number {
  let depth = 0, max = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c === '\\') i++;
    else if (c === '[' || c === '(') max = Math.max(max, ++depth);
    else if ((c === ']' || c === ')') && depth > 0) depth--;
  }
  return max;
}

class Parser {
  // prompt(at) depends on `at` alone, and "[" tries three rules over the same inside: without this
  // memo every level of nesting tripled the work ("[" × 30 never returned).
  readonly #prompts: Array<[Node[], number] | undefined>;

  constructor(readonly s: string) {
    this.#prompts = new Array<[Node[], number] | undefined>(s.length + 1);
  }

  private match(re: RegExp, at: number): string | undefined {
    re.lastIndex = at;
    const m = re.exec(this.s);
    return m ? m[0] : undefined;
  }

  // prompt: (emphasized | scheduled | alternate | plain | WHITESPACE)*
  prompt(from: number): [Node[], number] {
    const known = this.#prompts[from];
    if (known) return known;
    const nodes: Node[] = [];
    let at = from;
    for (;;) {
      const item = this.item(at);
      if (!item) break;
      nodes.push(item[0]);
      at = item[1];
    }
    const result: [Node[], number] = [nodes, at];
    this.#prompts[from] = result;
    return result;
  }

  private item(at: number): [Node, number] | undefined {
    const c = this.s[at];
    if (c === '(') return this.paren(at);
    if (c === '[') return this.scheduled(at) ?? this.alternate(at) ?? this.bracket(at);
    const end = this.plainEnd(at);
    return end > at ? [{ kind: 'text', text: this.s.slice(at, end) }, end] : undefined;
  }

  // plain: (/[^\\[\]():|]/ | "\\" any character but a line break)+, as the regex
  // /(?:[^\\[\]():|]|\\.)+/ matches it; returns where it ends (`at` when empty)
  private plainEnd(at: number): number {
    const s = this.s;
    let i = at;
    while (i < s.length) {
      const c = s.charCodeAt(i);
      if (c === BACKSLASH) {
        const next = s.charCodeAt(i + 1);
        if (Number.isNaN(next) || next === 0x0a || next === 0x0d || next === 0x2028 || next === 0x2029) break;
        i += 2;
      } else if (c === 0x5b || c === 0x5d || c === 0x28 || c === 0x29 || c === 0x3a || c === 0x7c) { // [ ] ( ) : |
        break;
      } else {
        i++;
      }
    }
    return i;
  }

  // "(" prompt ")" | "(" prompt ":" prompt ")"
  private paren(at: number): [Node, number] | undefined {
    const [first, end] = this.prompt(at + 1);
    if (this.s[end] === ')') return [{ kind: 'group', open: '(', parts: [first], close: ')' }, end + 1];
    if (this.s[end] !== ':') return undefined;
    const [second, end2] = this.prompt(end + 1);
    return this.s[end2] === ')' ? [{ kind: 'group', open: '(', parts: [first, second], close: ')' }, end2 + 1] : undefined;
  }

  // "[" prompt "]"
  private bracket(at: number): [Node, number] | undefined {
    const [inner, end] = this.prompt(at + 1);
    return this.s[end] === ']' ? [{ kind: 'group', open: '[', parts: [inner], close: ']' }, end + 1] : undefined;
  }

  // ":" [WHITESPACE] NUMBER [WHITESPACE] "]" from `at` (the colon); the number and the end
  private when(at: number): [string, number] | undefined {
    if (this.s[at] !== ':') return undefined;
    at += 1 + (this.match(WS, at + 1)?.length ?? 0);
    const number = this.match(NUMBER, at);
    if (!number) return undefined;
    at += number.length;
    at += this.match(WS, at)?.length ?? 0;
    return this.s[at] === ']' ? [number, at + 1] : undefined;
  }

  // "[" [prompt ":"] prompt ":" [WHITESPACE] NUMBER [WHITESPACE] "]"
  private scheduled(at: number): [Node, number] | undefined {
    const [first, end] = this.prompt(at + 1);
    if (this.s[end] !== ':') return undefined;
    const [second, end2] = this.prompt(end + 1);
    const both = this.when(end2);
    if (both) return [{ kind: 'scheduled', before: first, after: second, number: both[0] }, both[1]];
    const one = this.when(end);
    return one ? [{ kind: 'scheduled', before: null, after: first, number: one[0] }, one[1]] : undefined;
  }

  // "[" prompt ("|" [prompt])+ "]"
  private alternate(at: number): [Node, number] | undefined {
    const options: Node[][] = [];
    let [option, end] = this.prompt(at + 1);
    options.push(option);
    while (this.s[end] === '|') {
      [option, end] = this.prompt(end + 1);
      options.push(option);
    }
    return options.length > 1 && this.s[end] === ']' ? [{ kind: 'alternate', options }, end + 1] : undefined;
  }

  // start: (prompt | /[][():]/+)* — stray brackets, parens and colons are text; anything else fails
  start(): Node[] | undefined {
    const nodes: Node[] = [];
    let at = 0;
    while (at < this.s.length) {
      const [items, end] = this.prompt(at);
      for (const item of items) nodes.push(item);
      if (end > at) {
        at = end;
        continue;
      }
      const c = this.s[at]!;
      if (c !== '[' && c !== ']' && c !== '(' && c !== ')' && c !== ':') return undefined; // e.g. a "|" outside brackets, a trailing "\"
      nodes.push({ kind: 'text', text: c });
      at += 1;
    }
    return nodes;
  }
}

function visit(nodes: Node[], fn: (n: Node) => void): void {
  for (const n of nodes) {
    fn(n);
    if (n.kind === 'scheduled') (n.before && visit(n.before, fn), visit(n.after, fn));
    else if (n.kind === 'alternate') n.options.forEach((o) => visit(o, fn));
    else if (n.kind === 'group') n.parts.forEach((p) => visit(p, fn));
  }
}

// The tree with everything that does not change between steps joined into strings: a prompt
// with an alternation is written out once per step, and a step then only joins a few pieces.
type Piece =
  | string
  | { kind: 'scheduled'; when: number; before: Piece[] | null; after: Piece[] }
  | { kind: 'alternate'; options: Piece[][] };

function addText(out: Piece[], t: string): void {
  const last = out.length - 1;
  if (typeof out[last] === 'string') out[last] += t;
  else out.push(t);
}

function flatten(nodes: Node[], out: Piece[] = []): Piece[] {
  for (const n of nodes) {
    if (n.kind === 'text') addText(out, n.text);
    else if (n.kind === 'scheduled') out.push({ kind: 'scheduled', when: n.when!, before: n.before && flatten(n.before), after: flatten(n.after) });
    else if (n.kind === 'alternate') out.push({ kind: 'alternate', options: n.options.map((o) => flatten(o)) });
    else {
      addText(out, n.open);
      n.parts.forEach((p, i) => {
        if (i > 0) addText(out, ':');
        flatten(p, out);
      });
      addText(out, n.close);
    }
  }
  return out;
}

function textAt(pieces: Piece[], step: number): string {
  let out = '';
  for (const p of pieces) {
    if (typeof p === 'string') out += p;
    else if (p.kind === 'scheduled') out += step <= p.when ? (p.before ? textAt(p.before, step) : '') : textAt(p.after, step);
    else out += textAt(p.options[(step - 1) % p.options.length]!, step);
  }
  return out;
}

/**
 * A1111's schedule for one prompt: [endAtStep, text] pairs in step order. hiresSteps: the schedule
 * of a hires fix's second pass (integers count on from the first pass's steps, fractions from 1.0).
 */
export function promptSchedule(prompt: string, steps: number, hiresSteps?: number): Array<[number, string]> {
  const intOffset = hiresSteps === undefined ? 0 : steps, fltOffset = hiresSteps === undefined ? 0 : 1;
  const total = hiresSteps ?? steps;
  // Without "[" there is no edit nor alternation, and a parsed prompt without them reads back as
  // written (text, groups and stray characters are kept as they are): the same single entry as
  // a prompt that does not parse.
  const tree = !prompt.includes('[') || nesting(prompt) > MAX_NESTING ? undefined : new Parser(prompt).start();
  if (!tree) return [[total, prompt]];
  const ends = new Set([total]);
  let changes = false;
  visit(tree, (n) => {
    if (n.kind === 'scheduled' || n.kind === 'alternate') changes = true;
    if (n.kind === 'scheduled') {
      const v = Number(n.number);
      n.when = Math.min(total, Math.trunc(n.number.includes('.') ? (v - fltOffset) * total : v - intOffset));
      if (n.when >= 1) ends.add(n.when);
    } else if (n.kind === 'alternate') {
      for (let s = 1; s <= total; s++) ends.add(s);
    }
  });
  if (!changes) return [[total, prompt]];
  const pieces = flatten(tree);
  return [...ends].sort((a, b) => a - b).map((end) => [end, textAt(pieces, end)]);
}
