import { describe, expect, it } from 'vitest';
import { literalPrefix, render, renderString } from './template.ts';
import { stepContext } from './test-context.ts';

const scope = stepContext({
  input: { email: 'ada@example.com', count: 3, tags: ['a', 'b'], nothing: null },
  steps: { fetch: { output: { body: { items: [{ id: 'item-1' }, { id: 'item-2' }] } } } },
});

describe('render', () => {
  it('replaces placeholders inside text', () => {
    expect(render('Hello {{input.email}}, run {{execution.id}}', scope)).toBe('Hello ada@example.com, run exec-1');
  });

  it('tolerates spaces inside the braces', () => {
    expect(render('{{ input.email }}!', scope)).toBe('ada@example.com!');
  });

  it('follows dotted paths with numeric array indexes', () => {
    expect(render('{{steps.fetch.output.body.items.1.id}}', scope)).toBe('item-2');
  });

  it('returns the raw value when the string is exactly one placeholder', () => {
    expect(render('{{input.count}}', scope)).toBe(3);
    expect(render('{{ steps.fetch.output.body.items.0 }}', scope)).toEqual({ id: 'item-1' });
  });

  it('writes numbers as text and objects as JSON inside text', () => {
    expect(render('count={{input.count}} tags={{input.tags}}', scope)).toBe('count=3 tags=["a","b"]');
  });

  it('renders a missing path as null when it is the whole value', () => {
    expect(render('{{input.missing.deeper}}', scope)).toBeNull();
  });

  it('renders missing paths and null values as empty text inside text', () => {
    expect(render('[{{input.missing}}][{{input.nothing}}]', scope)).toBe('[][]');
  });

  it('renders strings deep inside objects and arrays and keeps other values', () => {
    const template = { to: '{{input.email}}', meta: { ids: ['{{steps.fetch.output.body.items.0.id}}', 7, true, null] } };
    expect(render(template, scope)).toEqual({ to: 'ada@example.com', meta: { ids: ['item-1', 7, true, null] } });
  });

  it('does not render placeholders that come from the data', () => {
    const sneaky = stepContext({ input: { name: '{{execution.tenantId}}' } });
    expect(render('Hi {{input.name}}', sneaky)).toBe('Hi {{execution.tenantId}}');
  });

  it.each(['__proto__', 'constructor', 'prototype'])('treats a %s segment as missing', (segment) => {
    expect(render(`{{input.${segment}}}`, scope)).toBeNull();
    expect(render(`{{input.email.${segment}.name}}`, scope)).toBeNull();
  });

  it('does not reach inherited properties', () => {
    expect(render('{{input.toString}}', scope)).toBeNull();
    expect(render('{{input.tags.map}}', scope)).toBeNull();
  });

  it('only exposes input, steps and execution', () => {
    expect(render('{{idempotencyKey}}', scope)).toBeNull();
    expect(render('{{signal}}', scope)).toBeNull();
  });

  it('keeps a "__proto__" key of the template as an ordinary key', () => {
    const template = JSON.parse('{"__proto__": {"polluted": "{{input.email}}"}}') as unknown;
    const rendered = render(template, scope) as Record<string, unknown>;
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.hasOwn(rendered, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('renderString', () => {
  it('produces text even when the string is exactly one placeholder', () => {
    expect(renderString('{{input.count}}', scope)).toBe('3');
    expect(renderString('{{input.missing}}', scope)).toBe('');
  });
});

describe('literalPrefix', () => {
  it('is the text before the first placeholder, which no rendering changes', () => {
    expect(literalPrefix('https://api.example.com/orders/{{input.id}}?page={{input.page}}')).toBe('https://api.example.com/orders/');
    expect(literalPrefix('{{ input.url }}')).toBe('');
  });

  it('is the whole text when there is no placeholder, unclosed braces included', () => {
    expect(literalPrefix('https://api.example.com/{{orders')).toBe('https://api.example.com/{{orders');
  });
});
