import { describe, expect, it } from 'vitest';
import { evaluateTemplate, evaluateTemplateText, literalPrefix, templateProblems } from './template.ts';
import { stepContext, stepFailure } from './test-context.ts';

const scope = stepContext({
  input: { email: 'ada@example.com', count: 3, tags: ['a', 'b'], nothing: null },
  steps: { fetch: { output: { body: { items: [{ id: 'item-1' }, { id: 'item-2' }] } } } },
});

describe('evaluateTemplate with {{path}} placeholders', () => {
  it('replaces placeholders inside text', async () => {
    expect(await evaluateTemplate('Hello {{input.email}}, run {{execution.id}}', scope)).toBe('Hello ada@example.com, run exec-1');
  });

  it('tolerates spaces inside the braces', async () => {
    expect(await evaluateTemplate('{{ input.email }}!', scope)).toBe('ada@example.com!');
  });

  it('follows dotted paths with numeric array indexes', async () => {
    expect(await evaluateTemplate('{{steps.fetch.output.body.items.1.id}}', scope)).toBe('item-2');
  });

  it('returns the raw value when the string is exactly one placeholder', async () => {
    expect(await evaluateTemplate('{{input.count}}', scope)).toBe(3);
    expect(await evaluateTemplate('{{ steps.fetch.output.body.items.0 }}', scope)).toEqual({ id: 'item-1' });
  });

  it('writes numbers as text and objects as JSON inside text', async () => {
    expect(await evaluateTemplate('count={{input.count}} tags={{input.tags}}', scope)).toBe('count=3 tags=["a","b"]');
  });

  it('renders a missing path as null when it is the whole value', async () => {
    expect(await evaluateTemplate('{{input.missing.deeper}}', scope)).toBeNull();
  });

  it('renders missing paths and null values as empty text inside text', async () => {
    expect(await evaluateTemplate('[{{input.missing}}][{{input.nothing}}]', scope)).toBe('[][]');
  });

  it('renders strings deep inside objects and arrays and keeps other values', async () => {
    const template = { to: '{{input.email}}', meta: { ids: ['{{steps.fetch.output.body.items.0.id}}', 7, true, null] } };
    expect(await evaluateTemplate(template, scope)).toEqual({ to: 'ada@example.com', meta: { ids: ['item-1', 7, true, null] } });
  });

  it('does not render placeholders that come from the data', async () => {
    const sneaky = stepContext({ input: { name: '{{execution.tenantId}}' } });
    expect(await evaluateTemplate('Hi {{input.name}}', sneaky)).toBe('Hi {{execution.tenantId}}');
  });

  it.each(['__proto__', 'constructor', 'prototype'])('treats a %s segment as missing', async (segment) => {
    expect(await evaluateTemplate(`{{input.${segment}}}`, scope)).toBeNull();
    expect(await evaluateTemplate(`{{input.email.${segment}.name}}`, scope)).toBeNull();
  });

  it('does not reach inherited properties', async () => {
    expect(await evaluateTemplate('{{input.toString}}', scope)).toBeNull();
    expect(await evaluateTemplate('{{input.tags.map}}', scope)).toBeNull();
  });

  it('only exposes input, steps and execution', async () => {
    expect(await evaluateTemplate('{{idempotencyKey}}', scope)).toBeNull();
    expect(await evaluateTemplate('{{signal}}', scope)).toBeNull();
  });

  it('keeps a "__proto__" key of the template as an ordinary key', async () => {
    const template = JSON.parse('{"__proto__": {"polluted": "{{input.email}}"}}') as unknown;
    const rendered = (await evaluateTemplate(template, scope)) as Record<string, unknown>;
    expect(Object.getPrototypeOf(rendered)).toBe(Object.prototype);
    expect(Object.hasOwn(rendered, '__proto__')).toBe(true);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe('evaluateTemplateText', () => {
  it('produces text even when the string is exactly one placeholder', async () => {
    expect(await evaluateTemplateText('{{input.count}}', scope)).toBe('3');
    expect(await evaluateTemplateText('{{input.missing}}', scope)).toBe('');
  });
});

describe('literalPrefix', () => {
  it('is the text before the first placeholder, which no rendering changes', () => {
    expect(literalPrefix('https://api.example.com/orders/{{input.id}}?page={{input.page}}')).toBe('https://api.example.com/orders/');
    expect(literalPrefix('{{ input.url }}')).toBe('');
  });

  it('stops at the first expression as it does at the first placeholder', () => {
    expect(literalPrefix('https://{{= input.host }}/orders/{{input.id}}')).toBe('https://');
  });

  it('is the whole text when there is no placeholder, unclosed braces included', () => {
    expect(literalPrefix('https://api.example.com/{{orders')).toBe('https://api.example.com/{{orders');
  });
});

describe('evaluateTemplate', () => {
  it('gives the typed value of a string that is exactly one expression', async () => {
    expect(await evaluateTemplate('{{= input.count * 2 }}', scope)).toBe(6);
    expect(await evaluateTemplate('{{= input.count > 2 }}', scope)).toBe(true);
    expect(await evaluateTemplate('{{= {"email": input.email, "tags": $count(input.tags)} }}', scope)).toEqual({
      email: 'ada@example.com',
      tags: 2,
    });
  });

  it('writes an expression inside text the way a placeholder is written', async () => {
    expect(await evaluateTemplate('{{= input.count + 1 }} items for {{input.email}}, tags {{= input.tags }}', scope)).toBe(
      '4 items for ada@example.com, tags ["a","b"]',
    );
    expect(await evaluateTemplateText('{{= input.count }}', scope)).toBe('3');
  });

  it('offers JSONata string functions', async () => {
    expect(await evaluateTemplate('{{= $uppercase($substringBefore(input.email, "@")) }}', scope)).toBe('ADA');
    expect(await evaluateTemplate('Tags: {{= $join(input.tags, ", ") }}', scope)).toBe('Tags: a, b');
  });

  it('offers JSONata date functions', async () => {
    expect(await evaluateTemplate('{{= $fromMillis(86400000) }}', scope)).toBe('1970-01-02T00:00:00.000Z');
    const before = Date.now();
    const now = (await evaluateTemplate('{{= $now() }}', scope)) as string;
    expect(Date.parse(now)).toBeGreaterThanOrEqual(before);
    expect(Date.parse(now)).toBeLessThanOrEqual(Date.now());
  });

  it('filters and maps arrays', async () => {
    expect(await evaluateTemplate('{{= steps.fetch.output.body.items.id }}', scope)).toEqual(['item-1', 'item-2']);
    expect(await evaluateTemplate('{{= steps.fetch.output.body.items[id = "item-2"] }}', scope)).toEqual({ id: 'item-2' });
    expect(await evaluateTemplate('{{= $map(input.tags, function($tag) { $uppercase($tag) }) }}', scope)).toEqual(['A', 'B']);
  });

  it('renders an expression that matches nothing as null when whole and as nothing inside text', async () => {
    expect(await evaluateTemplate('{{= input.missing }}', scope)).toBeNull();
    expect(await evaluateTemplate('[{{= input.missing }}]', scope)).toBe('[]');
  });

  it('sees only input, steps and execution', async () => {
    expect(await evaluateTemplate('{{= execution.id }}', scope)).toBe('exec-1');
    expect(await evaluateTemplate('{{= idempotencyKey }}', scope)).toBeNull();
  });

  it('does not evaluate expressions that come from the data', async () => {
    const sneaky = stepContext({ input: { name: '{{= execution.tenantId }}' } });
    expect(await evaluateTemplate('Hi {{= input.name }}', sneaky)).toBe('Hi {{= execution.tenantId }}');
  });

  it('fails the step for good, saying where, when an expression fails', async () => {
    const failure = await stepFailure(evaluateTemplate({ subject: '{{= input.email + 1 }}' }, scope));
    expect(failure.retryable).toBe(false);
    expect(failure.message).toMatch(/^template\.subject: the expression failed: .+ \(at character \d+\)$/);
  });

  it('stops a runaway expression at the time limit and fails the step for good', async () => {
    const started = Date.now();
    const failure = await stepFailure(evaluateTemplate('{{= [1..99999].$sum([1..99999]) }}', scope));
    expect(failure).toMatchObject({ retryable: false, message: 'template: the expression failed: The expression ran longer than 250 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('refuses a result larger than the limit', async () => {
    const failure = await stepFailure(evaluateTemplate('{{= $pad("", 300000, "x") }}', scope));
    expect(failure).toMatchObject({ retryable: false, message: 'template: the expression failed: The result exceeds 262144 bytes' });
  });
});

describe('templateProblems', () => {
  it('finds nothing wrong with placeholders and valid expressions', () => {
    expect(templateProblems({ a: '{{input.x}}', b: ['{{= $sum(input.lines.price) }}', 'Hi {{= {"a": {"b": 1}}.a.b }}'] })).toEqual([]);
  });

  it('names where an expression does not compile, by its position in the text', () => {
    expect(templateProblems({ body: { total: 'Total: {{= $sum(input.lines.price }}' } })).toEqual([
      {
        path: ['body', 'total'],
        problem: '{{= … }} is not a valid JSONata expression: Expected ")" before end of expression (at character 34)',
      },
    ]);
  });

  it('names an expression that is not closed', () => {
    expect(templateProblems(['ok', 'Hi {{= input.name'])).toEqual([{ path: [1], problem: 'the {{= at character 3 is not closed by }}' }]);
  });
});
