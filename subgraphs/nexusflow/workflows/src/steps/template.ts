import { evaluateExpression, expressionProblem } from '../expressions/step-expressions.ts';
import { StepError, type StepContext } from './types.ts';

/**
 * What placeholders and expressions can refer to: `{{input.…}}`, `{{steps.<key>.output.…}}` and `{{execution.…}}`;
 * `{{= $sum(input.lines.price) }}`.
 */
export type TemplateScope = Pick<StepContext, 'input' | 'steps' | 'execution'>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;

// Templates come from workflow authors, so a path must never reach beyond the data itself into prototypes.
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

const MISSING = Symbol('missing');

/**
 * Opens a JSONata expression. A placeholder path could never start with "=" (no step data is reachable under such a
 * name), so no template that worked before reads differently now.
 */
const EXPRESSION_OPENING = '{{=';
const CLOSING = '}}';

type TemplatePart =
  | { kind: 'text'; text: string }
  | { kind: 'placeholder'; path: string }
  /** `offset`: where the expression's text starts in the template's, for positions people can find. */
  | { kind: 'expression'; source: string; offset: number };

type ParsedTemplate = { ok: true; parts: TemplatePart[] } | { ok: false; problem: string };

/**
 * The text of `template` before its first placeholder: what stays the same however it renders. The whole template
 * when it has none.
 */
export function literalPrefix(template: string): string {
  const starts = [template.search(PLACEHOLDER), template.indexOf(EXPRESSION_OPENING)].filter((start) => start !== -1);
  return starts.length === 0 ? template : template.slice(0, Math.min(...starts));
}

/**
 * Renders every string inside `template` (walking arrays and plain objects; keys and non-string values are kept),
 * replacing `{{path}}` placeholders and evaluating `{{= expression }}`s: JSONata (https://docs.jsonata.org) over the
 * same data, e.g. `{{= $uppercase(input.name) }}` or `{{= steps.fetch.output.body.items[price > 10].id }}`.
 *
 * - A string that is exactly one placeholder or expression, such as `'{{steps.fetch.output.body}}'`, becomes the value
 *   itself (a number, an object…), so whole structures can be passed between steps; a path that leads nowhere, or an
 *   expression that matches nothing, becomes `null`.
 * - Otherwise each is written as text: objects and arrays as JSON, and `null` or nothing as an empty string, since a
 *   missing optional field should read as "nothing", not as the word "null", in a message or URL. Steps that need to
 *   tell missing data apart use the `exists` condition.
 * - Paths are dot separated and index arrays by number: `{{steps.fetch.output.body.items.0.id}}`. Only own properties
 *   are followed, and rendered values are never rendered again, so data cannot inject placeholders.
 * - An expression that fails or runs into the sandbox's limits (time, depth, sizes) fails the step for good.
 *
 * @throws StepError when an expression fails
 */
export async function evaluateTemplate(template: unknown, scope: TemplateScope, field = 'template'): Promise<unknown> {
  return evaluateValue(template, templateData(scope), field);
}

/** Like {@link evaluateTemplate} on a single string, but always produces text. */
export async function evaluateTemplateText(template: string, scope: TemplateScope, field = 'template'): Promise<string> {
  return (await evaluateParts(parsedOrFailure(template, field), templateData(scope), field)).map(toText).join('');
}

/**
 * Like {@link evaluateTemplateText}, for a field that must say something (a prompt, a message, a channel): a template
 * that renders to nothing is the workflow's mistake, and sending it anyway would only get a useless answer.
 */
export async function evaluateRequiredText(template: string, scope: TemplateScope, field: string): Promise<string> {
  const rendered = await evaluateTemplateText(template, scope, field);
  if (rendered.trim() === '') throw new StepError(`${field} rendered to nothing`, false, { field });
  return rendered;
}

/** A problem of a template's expressions, at `path` within it. */
export interface TemplateProblem {
  path: (string | number)[];
  problem: string;
}

/** The expressions of every string inside `template` that do not compile, or are not closed: for checking at save time. */
export function templateProblems(template: unknown, path: (string | number)[] = []): TemplateProblem[] {
  if (typeof template === 'string') {
    const parsed = parseTemplate(template);
    if (!parsed.ok) return [{ path, problem: parsed.problem }];
    return parsed.parts.flatMap((part) => {
      const problem = part.kind === 'expression' ? expressionProblem(part.source, part.offset) : undefined;
      return problem === undefined ? [] : [{ path, problem: `{{= … }} ${problem}` }];
    });
  }
  if (Array.isArray(template)) return template.flatMap((item, index) => templateProblems(item, [...path, index]));
  if (isPlainObject(template)) return Object.entries(template).flatMap(([key, value]) => templateProblems(value, [...path, key]));
  return [];
}

/** What placeholders and expressions see: `input`, `steps` and `execution`, and nothing else of the context. */
export function templateData(scope: TemplateScope): Record<string, unknown> {
  // Copying the three fields keeps anything else on the object passed in (the whole StepContext, say) unreachable.
  return { input: scope.input, steps: scope.steps, execution: scope.execution };
}

async function evaluateValue(template: unknown, root: Record<string, unknown>, field: string): Promise<unknown> {
  if (typeof template === 'string') {
    const parts = parsedOrFailure(template, field);
    const values = await evaluateParts(parts, root, field);
    if (parts.length === 1 && parts[0]!.kind !== 'text') return values[0] === MISSING ? null : values[0];
    return values.map(toText).join('');
  }
  if (Array.isArray(template)) {
    const items: unknown[] = [];
    for (const [index, item] of template.entries()) items.push(await evaluateValue(item, root, `${field}.${index}`));
    return items;
  }
  if (isPlainObject(template)) {
    const entries: [string, unknown][] = [];
    for (const [key, value] of Object.entries(template)) entries.push([key, await evaluateValue(value, root, `${field}.${key}`)]);
    return Object.fromEntries(entries);
  }
  return template;
}

async function evaluateParts(parts: TemplatePart[], root: Record<string, unknown>, field: string): Promise<unknown[]> {
  const values: unknown[] = [];
  for (const part of parts) {
    if (part.kind === 'text') values.push(part.text);
    else if (part.kind === 'placeholder') values.push(resolve(root, part.path));
    else values.push((await evaluateExpression(part.source, root, field)) ?? MISSING);
  }
  return values;
}

function parsedOrFailure(template: string, field: string): TemplatePart[] {
  const parsed = parseTemplate(template);
  if (!parsed.ok) throw new StepError(`${field}: ${parsed.problem}`, false, { field });
  return parsed.parts;
}

/**
 * Splits a template into text, `{{path}}` placeholders and `{{= expression }}`
 * expressions. An expression ends at the first "}}" outside its strings, comments and braces, so object constructors
 * and function bodies may use braces freely.
 */
function parseTemplate(template: string): ParsedTemplate {
  const parts: TemplatePart[] = [];
  const text = (from: number, to: number) => {
    if (to > from) parts.push({ kind: 'text', text: template.slice(from, to) });
  };
  const placeholders = new RegExp(PLACEHOLDER.source, 'g');
  let index = 0;
  while (index < template.length) {
    const opening = template.indexOf(EXPRESSION_OPENING, index);
    placeholders.lastIndex = index;
    const placeholder = placeholders.exec(template);
    if (placeholder && (opening === -1 || placeholder.index < opening)) {
      text(index, placeholder.index);
      parts.push({ kind: 'placeholder', path: placeholder[1] ?? '' });
      index = placeholder.index + placeholder[0].length;
      continue;
    }
    if (opening === -1) break;
    text(index, opening);
    const start = opening + EXPRESSION_OPENING.length;
    const end = expressionEnd(template, start);
    if (end === -1) return { ok: false, problem: `the {{= at character ${opening} is not closed by }}` };
    parts.push({ kind: 'expression', source: template.slice(start, end), offset: start });
    index = end + CLOSING.length;
  }
  text(index, template.length);
  return { ok: true, parts };
}

/** Where the expression starting at `start` ends: the first "}}" outside strings, comments and braces; -1 if none. */
function expressionEnd(template: string, start: number): number {
  let depth = 0;
  let index = start;
  while (index < template.length) {
    const char = template[index]!;
    if (char === '"' || char === "'" || char === '`') {
      index = quotedEnd(template, index, char);
    } else if (template.startsWith('/*', index)) {
      const commentEnd = template.indexOf('*/', index + 2);
      index = commentEnd === -1 ? template.length : commentEnd + 2;
    } else if (depth === 0 && template.startsWith(CLOSING, index)) {
      return index;
    } else {
      if (char === '{') depth += 1;
      if (char === '}' && depth > 0) depth -= 1;
      index += 1;
    }
  }
  return -1;
}

/** The index just past the string or name quoted by `quote` at `start` (backslash escapes in strings). */
function quotedEnd(template: string, start: number, quote: string): number {
  let index = start + 1;
  while (index < template.length && template[index] !== quote) index += quote !== '`' && template[index] === '\\' ? 2 : 1;
  return index + 1;
}

function resolve(root: Record<string, unknown>, path: string): unknown {
  let current: unknown = root;
  for (const segment of path.split('.')) {
    if (segment === '' || FORBIDDEN_SEGMENTS.has(segment)) return MISSING;
    if (typeof current !== 'object' || current === null || !Object.hasOwn(current, segment)) return MISSING;
    current = (current as Record<string, unknown>)[segment];
  }
  return current === undefined ? MISSING : current;
}

function toText(value: unknown): string {
  if (value === MISSING || value === null) return '';
  if (typeof value === 'string') return value;
  // Step data is JSON: numbers and booleans print the same as JSON as they do as text.
  return JSON.stringify(value) ?? '';
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== 'object' || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}
