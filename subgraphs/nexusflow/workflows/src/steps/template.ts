import type { StepContext } from './types.ts';

/** What placeholders can refer to: `{{input.…}}`, `{{steps.<key>.output.…}}` and `{{execution.…}}`. */
export type TemplateScope = Pick<StepContext, 'input' | 'steps' | 'execution'>;

const PLACEHOLDER = /\{\{\s*([^{}]*?)\s*\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{\s*([^{}]*?)\s*\}\}$/;

// Templates come from workflow authors, so a path must never reach beyond the data itself into prototypes.
const FORBIDDEN_SEGMENTS = new Set(['__proto__', 'constructor', 'prototype']);

const MISSING = Symbol('missing');

/**
 * Renders every string inside `template` (walking arrays and plain objects; keys and non-string values are kept).
 *
 * - A string that is exactly one placeholder, such as `'{{steps.fetch.output.body}}'`, becomes the referenced value
 *   itself (a number, an object…), so whole structures can be passed between steps.
 * - Otherwise each placeholder is replaced by its value as text; objects and arrays are written as JSON.
 * - A path that leads nowhere becomes `null` as a whole value and an empty string inside text, and a `null` value is
 *   written as an empty string inside text too: a missing optional field should read as "nothing", not as the word
 *   "null", in a message or URL. Steps that need to tell missing data apart use the `exists` condition.
 *
 * Paths are dot separated and index arrays by number: `{{steps.fetch.output.body.items.0.id}}`. Only own properties
 * are followed, and rendered values are never rendered again, so data cannot inject placeholders.
 */
export function render(template: unknown, scope: TemplateScope): unknown {
  return renderValue(template, rootOf(scope));
}

/** Like {@link render} on a single string, but always produces text, as URLs and header values must be. */
export function renderString(template: string, scope: TemplateScope): string {
  return renderText(template, rootOf(scope));
}

/**
 * The text of `template` before its first placeholder: what stays the same however it renders. The whole template
 * when it has none.
 */
export function literalPrefix(template: string): string {
  const firstPlaceholder = template.search(PLACEHOLDER);
  return firstPlaceholder === -1 ? template : template.slice(0, firstPlaceholder);
}

function rootOf(scope: TemplateScope): Record<string, unknown> {
  // Copying the three fields keeps anything else on the object passed in (the whole StepContext, say) unreachable.
  return { input: scope.input, steps: scope.steps, execution: scope.execution };
}

function renderValue(template: unknown, root: Record<string, unknown>): unknown {
  if (typeof template === 'string') {
    const whole = WHOLE_PLACEHOLDER.exec(template);
    if (whole) {
      const value = resolve(root, whole[1] ?? '');
      return value === MISSING ? null : value;
    }
    return renderText(template, root);
  }
  if (Array.isArray(template)) return template.map((item) => renderValue(item, root));
  if (isPlainObject(template)) {
    // fromEntries defines properties rather than assigning them, so a "__proto__" key stays an ordinary key.
    return Object.fromEntries(Object.entries(template).map(([key, value]) => [key, renderValue(value, root)]));
  }
  return template;
}

function renderText(template: string, root: Record<string, unknown>): string {
  return template.replace(PLACEHOLDER, (_placeholder, path: string) => toText(resolve(root, path)));
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
