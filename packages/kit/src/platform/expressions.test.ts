import { describe, expect, it } from 'vitest';
import { compileExpression, describeExpressionProblem, ExpressionError, type Expression, type ExpressionLimits } from './expressions.ts';

function compiled(source: string, limits: Partial<ExpressionLimits> = {}): Expression {
  const result = compileExpression(source, limits);
  if (!result.ok) throw new Error(`"${source}" did not compile: ${result.problem.message}`);
  return result.expression;
}

async function failureOf(promise: Promise<unknown>): Promise<ExpressionError> {
  const error: unknown = await promise.then(
    () => undefined,
    (reason: unknown) => reason,
  );
  if (!(error instanceof ExpressionError)) throw new Error(`expected an ExpressionError, got ${String(error)}`);
  return error;
}

describe('JSONata expressions', () => {
  it('evaluates paths, filters, string, number, date and array functions over the input', async () => {
    const order = {
      customer: { email: 'ADA@example.com' },
      lines: [
        { sku: 'a', qty: 2, price: 5 },
        { sku: 'b', qty: 1, price: 30 },
      ],
    };
    expect(await compiled('$lowercase(customer.email)').evaluate(order)).toBe('ada@example.com');
    expect(await compiled('$sum(lines.(qty * price))').evaluate(order)).toBe(40);
    expect(await compiled('lines[price > 10].sku').evaluate(order)).toBe('b');
    expect(await compiled('$fromMillis(0)').evaluate({})).toBe('1970-01-01T00:00:00.000Z');
    expect(await compiled('$greeting & ", " & name').evaluate({ name: 'Ada' }, { greeting: 'Hello' })).toBe('Hello, Ada');
  });

  it('tests truth by JSONata rules: an empty string or a missing field does not hold', async () => {
    expect(await compiled('amount > 100').test({ amount: 120 })).toBe(true);
    expect(await compiled('amount > 100').test({ amount: 80 })).toBe(false);
    expect(await compiled('email').test({ email: '' })).toBe(false);
    expect(await compiled('email').test({})).toBe(false);
  });

  it('refuses a syntax error when compiling, saying what and where', () => {
    const result = compileExpression('payload.amount >');
    expect(result).toMatchObject({ ok: false, problem: { code: 'S0207', position: 16 } });
    if (result.ok) return;
    expect(describeExpressionProblem(result.problem)).toBe('Unexpected end of expression (at character 16)');
    expect(compileExpression('$count(items')).toMatchObject({ ok: false, problem: { code: 'S0203' } });
  });

  it('refuses an expression longer than the limit', () => {
    expect(compileExpression('a'.repeat(20), { maxSourceLength: 10 })).toMatchObject({ ok: false, problem: { code: 'TOO_LONG' } });
  });

  it('refuses a regular expression RE2 cannot run, with its position', () => {
    expect(compileExpression('$match(name, /(a)\\1/)')).toMatchObject({ ok: false, problem: { code: 'UNSUPPORTED_REGEX', position: 20 } });
  });

  it('matches regular expressions in linear time, so a pattern that backtracks in JavaScript returns at once', async () => {
    const started = Date.now();
    expect(await compiled('$contains(text, /^(a+)+$/)').evaluate({ text: `${'a'.repeat(40)}!` })).toBe(false);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(await compiled('$match(text, /(\\w+)@(\\w+)/i).groups').evaluate({ text: 'to: ada@example' })).toEqual(['ada', 'example']);
    expect(await compiled('$replace(text, /o/, "0")').evaluate({ text: 'foo boo' })).toBe('f00 b00');
    expect(await compiled('$split(text, /,\\s*/)').evaluate({ text: 'a, b,c' })).toEqual(['a', 'b', 'c']);
  });

  it('stops an evaluation that runs longer than its time limit', async () => {
    const forever = compiled('($loop := function($n) { $loop($n + 1) }; $loop(0))', { timeoutMs: 50, maxDepth: 100_000 });
    const started = Date.now();
    const failure = await failureOf(forever.evaluate({}));
    expect(failure).toMatchObject({ kind: 'timeout', code: 'D1012', message: 'The expression ran longer than 50 ms' });
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('stops recursion that nests deeper than its limit', async () => {
    const deep = compiled('($f := function($n) { $n = 0 ? 0 : 1 + $f($n - 1) }; $f(1000))', { maxDepth: 100, timeoutMs: 5000 });
    expect(await failureOf(deep.evaluate({}))).toMatchObject({ kind: 'too-deep' });
  });

  it('refuses an input larger than its limit, before evaluating', async () => {
    const failure = await failureOf(
      compiled('$count(items)', { maxInputBytes: 100 }).evaluate({ items: Array.from({ length: 100 }, () => 1) }),
    );
    expect(failure.kind).toBe('input-too-large');
  });

  it('refuses a result larger than its limit', async () => {
    const failure = await failureOf(compiled('$pad("", 2000, "x")', { maxResultBytes: 1000 }).evaluate({}));
    expect(failure).toMatchObject({ kind: 'result-too-large', message: 'The result exceeds 1000 bytes' });
  });

  it('refuses to pad a string wider than the result may be, before building it, however the result is used', async () => {
    const failure = await failureOf(compiled('$length($pad("", 500000000)) > 0').evaluate({}));
    expect(failure).toMatchObject({ kind: 'result-too-large', message: `The result exceeds ${256 * 1024} bytes` });
    expect(await compiled('[$pad("ab", 5), $pad("ab", -5, "#*"), $pad("abcdef", 3), $pad("é", 3, "·")]').evaluate({})).toEqual([
      'ab   ',
      '#*#ab',
      'abcdef',
      'é··',
    ]);
  });

  it('stops a sequence that grows beyond its limit', async () => {
    const failure = await failureOf(compiled('[1..100000]', { maxSequenceLength: 1000 }).evaluate({}));
    expect(failure.kind).toBe('sequence-too-long');
  });

  it('reports an error of the expression itself with its code and position', async () => {
    const failure = await failureOf(compiled('name + 1').evaluate({ name: 'Ada' }));
    expect(failure).toMatchObject({ kind: 'evaluation', code: 'T2001', position: 6 });
  });

  it('sees nothing of the process: no require, no globals', async () => {
    expect(await compiled('$require').evaluate({})).toBeUndefined();
    expect(await compiled('$process').evaluate({})).toBeUndefined();
  });
});
