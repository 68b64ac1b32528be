/**
 * Label selectors, in the server's string syntax or as the API's
 * `LabelSelector` struct (`{ matchLabels, matchExpressions }`, what a
 * Deployment or a Service holds), turned once into a `LabelMatcher` and
 * matched locally — so a store can be filtered with the same selector one
 * would pass as `labelSelector` to a list or watch, which takes either form.
 *
 * Grammar (as kube-apiserver accepts it): requirements separated by commas,
 * all of which must hold.
 *
 * | requirement       | holds when                                   |
 * | ----------------- | -------------------------------------------- |
 * | `k=v`, `k==v`     | label `k` is present and equals `v`          |
 * | `k!=v`            | label `k` is absent or differs from `v`      |
 * | `k in (a,b)`      | label `k` is present and is one of the values |
 * | `k notin (a,b)`   | label `k` is absent or none of the values     |
 * | `k`               | label `k` is present                         |
 * | `!k`              | label `k` is absent                          |
 *
 * Values may be empty (`k=`, `k in (a,)`), as on the server. Keys and values
 * are checked against the label syntax rules, so a selector that parses here
 * is one the server would accept too. The server's `<`/`>` operators, which
 * only node affinity uses, are not supported.
 */
import { KubeError } from './errors.ts';

/** One clause of a selector. */
export type LabelRequirement =
  | { key: string; operator: 'Equals' | 'NotEquals'; value: string }
  | { key: string; operator: 'In' | 'NotIn'; values: readonly string[] }
  | { key: string; operator: 'Exists' | 'DoesNotExist' };

/** A selector's text could not be parsed; `position` is the 0-based offset of the problem. */
export class LabelSelectorError extends KubeError {
  override name = 'LabelSelectorError';
  override readonly code = 'ERR_KUBE_LABEL_SELECTOR';
  readonly selector: string;
  readonly position: number;
  /** `problem` at 0-based `position` of `selector`. */
  constructor(selector: string, position: number, problem: string) {
    super(`invalid label selector ${JSON.stringify(selector)} at ${position}: ${problem}`);
    this.selector = selector;
    this.position = position;
  }
}

/** The labels of an object, possibly frozen, possibly absent. */
export type Labels = { readonly [key: string]: string } | undefined;

/**
 * The API's label selector struct (`metav1.LabelSelector`), as objects hold
 * it: every `matchLabels` pair and every `matchExpressions` entry must hold.
 * The generated `LabelSelector` of `meta/v1` has this shape.
 */
export interface LabelSelector {
  readonly matchLabels?: { readonly [key: string]: string } | undefined;
  readonly matchExpressions?:
    | readonly {
        readonly key: string;
        readonly operator: 'In' | 'NotIn' | 'Exists' | 'DoesNotExist' | (string & {});
        readonly values?: readonly string[] | undefined;
      }[]
    | undefined;
}

/** A selector parsed once, to match labels locally. An empty selector matches everything. */
export interface LabelMatcher {
  readonly requirements: readonly LabelRequirement[];
  /** True when every requirement holds for `labels`. */
  matches(labels: Labels): boolean;
}

/**
 * Parses a selector in the server's string syntax; throws `LabelSelectorError` on bad syntax.
 *
 * @example
 * const sel = parseLabelSelector('app=web,tier!=db,env in (prod,staging),!legacy');
 * sel.matches({ app: 'web', env: 'prod' }); // true
 * sel.matches({ app: 'web', env: 'dev' });  // false
 */
export function parseLabelSelector(text: string): LabelMatcher {
  const requirements = new Parser(text).parse();
  return { requirements, matches: (labels) => requirements.every((r) => holds(r, labels)) };
}

/**
 * The string form of a `LabelSelector` struct, for a list or watch query;
 * checked as the server would (a bad key, value or operator throws
 * `LabelSelectorError`). Keys are sorted, so equal selectors give equal text.
 *
 * @example
 * formatLabelSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }] });
 * // 'app=web,tier in (fe,be)'
 */
export function formatLabelSelector(selector: LabelSelector): string {
  const parts = Object.keys(selector.matchLabels ?? {})
    .sort()
    .map((k) => `${k}=${selector.matchLabels![k]}`);
  for (const e of selector.matchExpressions ?? []) {
    const values = e.values ?? [];
    switch (e.operator) {
      case 'In':
      case 'NotIn':
        if (values.length === 0) throw new LabelSelectorError(JSON.stringify(e), 0, `operator ${e.operator} needs values`);
        parts.push(`${e.key} ${e.operator === 'In' ? 'in' : 'notin'} (${values.join(',')})`);
        break;
      case 'Exists':
      case 'DoesNotExist':
        if (values.length > 0) throw new LabelSelectorError(JSON.stringify(e), 0, `operator ${e.operator} takes no values`);
        parts.push(e.operator === 'Exists' ? e.key : `!${e.key}`);
        break;
      default:
        throw new LabelSelectorError(JSON.stringify(e), 0, `unknown operator ${JSON.stringify(e.operator)}`);
    }
  }
  const text = parts.join(',');
  new Parser(text).parse(); // the same checks as the string form: a selector the server would refuse throws here
  return text;
}

/**
 * A matcher for a selector in either form.
 *
 * @example
 * labelMatcher(deployment.spec.selector).matches(pod.metadata.labels);
 */
export function labelMatcher(selector: string | LabelSelector): LabelMatcher {
  return parseLabelSelector(typeof selector === 'string' ? selector : formatLabelSelector(selector));
}

/** The query form of a selector given either way. */
export function labelSelectorText(selector: string | LabelSelector | undefined): string | undefined {
  return selector === undefined || typeof selector === 'string' ? selector : formatLabelSelector(selector);
}

function holds(r: LabelRequirement, labels: Labels): boolean {
  // Object.hasOwn, not `in`: a label named `constructor` must not be found on the prototype.
  const present = labels !== undefined && Object.hasOwn(labels, r.key);
  const value = present ? labels[r.key] : undefined;
  switch (r.operator) {
    case 'Exists':
      return present;
    case 'DoesNotExist':
      return !present;
    case 'Equals':
      return present && value === r.value;
    case 'NotEquals':
      return !present || value !== r.value;
    case 'In':
      return present && r.values.includes(value as string);
    case 'NotIn':
      return !present || !r.values.includes(value as string);
  }
}

type Punctuation = '!' | '=' | '==' | '!=' | '(' | ')' | ',';
type Token = { kind: 'word'; text: string; at: number } | { kind: Punctuation | 'end'; at: number };

const SPACE = /^\s+/;
const PUNCTUATION = /^(==|!=|=|!|\(|\)|,)/;
const WORD = /^[^\s!=(),<>]+/;

function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let at = 0;
  while (at < text.length) {
    const rest = text.slice(at);
    const space = SPACE.exec(rest);
    if (space) {
      at += space[0].length;
      continue;
    }
    const punctuation = PUNCTUATION.exec(rest);
    if (punctuation) {
      tokens.push({ kind: punctuation[0] as Punctuation, at });
      at += punctuation[0].length;
      continue;
    }
    const word = WORD.exec(rest);
    if (!word) throw new LabelSelectorError(text, at, `unexpected ${JSON.stringify(rest[0])} (the < and > operators are not supported)`);
    tokens.push({ kind: 'word', text: word[0], at });
    at += word[0].length;
  }
  tokens.push({ kind: 'end', at });
  return tokens;
}

// A DNS label-like name: alphanumerics at both ends, `-_.` inside, at most 63 characters.
const NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

class Parser {
  private readonly tokens: Token[];
  private i = 0;
  constructor(private readonly text: string) {
    this.tokens = tokenize(text);
  }

  parse(): LabelRequirement[] {
    const out: LabelRequirement[] = [];
    if (this.peek().kind === 'end') return out;
    for (;;) {
      out.push(this.requirement());
      const t = this.next();
      if (t.kind === 'end') return out;
      if (t.kind !== ',') this.fail(t, 'expected "," between requirements');
    }
  }

  private requirement(): LabelRequirement {
    if (this.peek().kind === '!') {
      this.next();
      return { key: this.key(), operator: 'DoesNotExist' };
    }
    const key = this.key();
    const t = this.peek();
    if (t.kind === ',' || t.kind === 'end') return { key, operator: 'Exists' };
    this.next();
    if (t.kind === '=' || t.kind === '==') return { key, operator: 'Equals', value: this.value() };
    if (t.kind === '!=') return { key, operator: 'NotEquals', value: this.value() };
    if (t.kind === 'word' && (t.text === 'in' || t.text === 'notin')) {
      return { key, operator: t.text === 'in' ? 'In' : 'NotIn', values: this.valueSet() };
    }
    return this.fail(t, `expected an operator (=, ==, !=, in, notin), "," or the end after key ${JSON.stringify(key)}`);
  }

  private key(): string {
    const t = this.next();
    if (t.kind !== 'word') return this.fail(t, 'expected a label key');
    const slash = t.text.lastIndexOf('/');
    const prefix = slash < 0 ? undefined : t.text.slice(0, slash);
    const name = t.text.slice(slash + 1);
    if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) {
      this.fail(t, `key prefix ${JSON.stringify(prefix)} is not a DNS subdomain`);
    }
    if (!NAME.test(name)) this.fail(t, `key name ${JSON.stringify(name)} must be 1-63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`);
    return t.text;
  }

  private value(): string {
    const t = this.peek();
    if (t.kind === ',' || t.kind === 'end' || t.kind === ')') return ''; // `k=` selects the empty value
    this.next();
    if (t.kind !== 'word') return this.fail(t, 'expected a label value');
    if (!NAME.test(t.text)) this.fail(t, `value ${JSON.stringify(t.text)} must be at most 63 alphanumerics, '-', '_' or '.', starting and ending alphanumeric`);
    return t.text;
  }

  private valueSet(): string[] {
    const open = this.next();
    if (open.kind !== '(') this.fail(open, 'expected "(" after in/notin');
    const values = [this.value()];
    for (;;) {
      const t = this.next();
      if (t.kind === ')') return values;
      if (t.kind !== ',') this.fail(t, 'expected "," or ")" in a value list');
      values.push(this.value());
    }
  }

  private peek(): Token {
    return this.tokens[this.i]!;
  }

  private next(): Token {
    const t = this.tokens[this.i]!;
    if (t.kind !== 'end') this.i++;
    return t;
  }

  private fail(t: Token, problem: string): never {
    const found = t.kind === 'end' ? 'the end' : t.kind === 'word' ? JSON.stringify(t.text) : JSON.stringify(t.kind);
    throw new LabelSelectorError(this.text, t.at, `${problem}; found ${found}`);
  }
}
