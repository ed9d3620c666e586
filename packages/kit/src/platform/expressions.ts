import jsonata from 'jsonata';
import { RE2JS } from 're2js';

/**
 * The one expression language for data: JSONata (https://docs.jsonata.org), as AWS Step Functions and Node-RED use it.
 * Expressions come from tenants, so each is compiled once (when it is saved) and evaluated within limits: JSONata sees
 * only its input and its built-in functions, its regular expressions run on RE2 (linear time, so no pattern can
 * backtrack for ever), and an evaluation that runs too long, nests too deep, builds too long a sequence, or is given or
 * gives too much data fails with an {@link ExpressionError} instead of holding up the process.
 */
export interface ExpressionLimits {
  /** The longest an evaluation may run. */
  timeoutMs: number;
  /** How deep evaluation may nest (recursion included). */
  maxDepth: number;
  /** The most items a sequence (an array built while evaluating) may hold. */
  maxSequenceLength: number;
  /** The largest input, as JSON. */
  maxInputBytes: number;
  /** The largest result, as JSON. */
  maxResultBytes: number;
  /** The longest expression text. */
  maxSourceLength: number;
}

export const DEFAULT_EXPRESSION_LIMITS: Readonly<ExpressionLimits> = Object.freeze({
  timeoutMs: 250,
  maxDepth: 500,
  maxSequenceLength: 100_000,
  maxInputBytes: 1024 * 1024,
  maxResultBytes: 256 * 1024,
  maxSourceLength: 4096,
});

/** What is wrong with an expression's text, and where: `position` is the character offset where JSONata noticed it, the end of the offending token. */
export interface ExpressionProblem {
  /** JSONata's error code (e.g. `S0202`), or one of ours: `TOO_LONG`, `UNSUPPORTED_REGEX`. */
  code: string;
  message: string;
  position: number | null;
}

export type ExpressionFailureKind = 'timeout' | 'input-too-large' | 'result-too-large' | 'too-deep' | 'sequence-too-long' | 'evaluation';

/** An evaluation that failed: a limit it ran into, or an error of the expression itself (e.g. a type error). */
export class ExpressionError extends Error {
  constructor(
    readonly kind: ExpressionFailureKind,
    message: string,
    /** JSONata's error code, when JSONata raised it. */
    readonly code: string | undefined = undefined,
    readonly position: number | null = null,
  ) {
    super(message);
    this.name = 'ExpressionError';
  }
}

export type CompiledExpression = { ok: true; expression: Expression } | { ok: false; problem: ExpressionProblem };

interface JsonataFailure {
  code?: string;
  message?: string;
  position?: number;
}

const isJsonataFailure = (error: unknown): error is JsonataFailure =>
  typeof error === 'object' && error !== null && typeof (error as JsonataFailure).code === 'string';

const LIMIT_FAILURES: Record<string, ExpressionFailureKind> = {
  D1012: 'timeout',
  D1011: 'too-deep',
  D2014: 'sequence-too-long',
  D2015: 'sequence-too-long',
};

const byteLength = (value: unknown): number => {
  const text = JSON.stringify(value);
  return text === undefined ? 0 : Buffer.byteLength(text);
};

/** RE2 flags for JSONata's regex flags (`i`, `m`; JSONata adds `g` to every regex itself). */
function re2Flags(regex: RegExp): number {
  return (regex.ignoreCase ? RE2JS.CASE_INSENSITIVE : 0) | (regex.multiline ? RE2JS.MULTILINE : 0);
}

/** JSONata builds its engine each time a regex literal is evaluated; the pattern is compiled once per literal. */
const compiledPatterns = new WeakMap<RegExp, RE2JS>();

function compileRe2(regex: RegExp): RE2JS {
  let pattern = compiledPatterns.get(regex);
  if (!pattern) {
    pattern = RE2JS.compile(RE2JS.translateRegExp(regex.source), re2Flags(regex));
    compiledPatterns.set(regex, pattern);
  }
  return pattern;
}

/**
 * What JSONata asks of its regex engine (`new Engine(regex)`, then `lastIndex` and `exec`), on RE2: matching takes time
 * linear in the input, where JavaScript's own engine can backtrack for ever on a pattern like `(a+)+$`.
 */
class Re2Engine {
  lastIndex = 0;
  private readonly pattern: RE2JS;

  constructor(regex: RegExp) {
    this.pattern = compileRe2(regex);
  }

  exec(text: string): RegExpExecArray | null {
    const matcher = this.pattern.matcher(text);
    if (this.lastIndex > text.length || !matcher.find(this.lastIndex)) {
      this.lastIndex = 0;
      return null;
    }
    const groups = Array.from({ length: matcher.groupCount() + 1 }, (_, group) => matcher.group(group) ?? undefined);
    const match = Object.assign(groups, { index: matcher.start(), input: text }) as unknown as RegExpExecArray;
    this.lastIndex = matcher.end();
    return match;
  }
}

/** Every regex literal of a parsed expression, with its position. */
function regexLiterals(node: unknown, found: { regex: RegExp; position: number | null }[] = []) {
  if (Array.isArray(node)) {
    for (const item of node) regexLiterals(item, found);
  } else if (typeof node === 'object' && node !== null) {
    const { type, value, position } = node as { type?: unknown; value?: unknown; position?: unknown };
    if (type === 'regex' && value instanceof RegExp) found.push({ regex: value, position: typeof position === 'number' ? position : null });
    for (const child of Object.values(node)) if (typeof child === 'object' && child !== null) regexLiterals(child, found);
  }
  return found;
}

/** A compiled expression; evaluate it as often as needed. */
export class Expression {
  constructor(
    readonly source: string,
    private readonly compiled: jsonata.Expression,
    private readonly limits: ExpressionLimits,
  ) {}

  /**
   * The expression's value for `input` (JSON), with `bindings` as `$name` variables.
   * @throws ExpressionError when it fails or runs into a limit
   */
  async evaluate(input: unknown, bindings?: Record<string, unknown>): Promise<unknown> {
    if (byteLength(input) > this.limits.maxInputBytes) {
      throw new ExpressionError('input-too-large', `The input exceeds ${this.limits.maxInputBytes} bytes`);
    }
    let result: unknown;
    try {
      result = await this.compiled.evaluate(input, bindings);
    } catch (error) {
      // A limit of ours, raised inside a built-in: JSONata marks it with the call's position, which a limit does not
      // have elsewhere (the result's size is checked at the end), so it is reported alike.
      if (error instanceof ExpressionError) throw new ExpressionError(error.kind, error.message);
      if (!isJsonataFailure(error)) throw new ExpressionError('evaluation', error instanceof Error ? error.message : String(error));
      const code = error.code!;
      const kind = LIMIT_FAILURES[code] ?? 'evaluation';
      const message =
        kind === 'timeout'
          ? `The expression ran longer than ${this.limits.timeoutMs} ms`
          : (error.message ?? `Expression failed (${code})`);
      throw new ExpressionError(kind, message, code, error.position ?? null);
    }
    if (byteLength(result) > this.limits.maxResultBytes) {
      throw new ExpressionError('result-too-large', `The result exceeds ${this.limits.maxResultBytes} bytes`);
    }
    return result;
  }

  /** Whether the expression holds for `input`, by JSONata's own rules of truth (`$boolean`): e.g. "" and [] do not. */
  async test(input: unknown, bindings?: Record<string, unknown>): Promise<boolean> {
    return (await truth.evaluate(await this.evaluate(input, bindings))) === true;
  }
}

const truth = jsonata('$boolean($)');

/**
 * Compiles `source` once: a syntax error, or a regex RE2 cannot run (back-references, look-arounds), comes back as a
 * problem with its position, for the caller to show where the expression is saved.
 */
export function compileExpression(source: string, limits: Partial<ExpressionLimits> = {}): CompiledExpression {
  const applied: ExpressionLimits = { ...DEFAULT_EXPRESSION_LIMITS, ...limits };
  if (source.length > applied.maxSourceLength) {
    return { ok: false, problem: { code: 'TOO_LONG', message: `is longer than ${applied.maxSourceLength} characters`, position: null } };
  }
  let compiled: jsonata.Expression;
  try {
    compiled = jsonata(source, {
      timeout: applied.timeoutMs,
      stack: applied.maxDepth,
      sequence: applied.maxSequenceLength,
      RegexEngine: Re2Engine as unknown as RegExpConstructor,
    });
  } catch (error) {
    const { code, message, position } = isJsonataFailure(error) ? error : { code: 'S0000', message: String(error), position: undefined };
    return { ok: false, problem: { code: code ?? 'S0000', message: message ?? 'is not a valid expression', position: position ?? null } };
  }
  for (const { regex, position } of regexLiterals(compiled.ast())) {
    try {
      compileRe2(regex);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      return { ok: false, problem: { code: 'UNSUPPORTED_REGEX', message: `regular expression /${regex.source}/: ${reason}`, position } };
    }
  }
  compiled.registerFunction('pad', cappedPad(applied.maxResultBytes), '<s-ns?:s>');
  return { ok: true, expression: new Expression(source, compiled, applied) };
}

/**
 * JSONata's `$pad`, refusing a width beyond the result's limit before building the string: the built-in builds it in
 * one synchronous call, which neither the timeout (checked between steps) nor the result's size (checked at the end,
 * and not at all when the padded string is only measured) can stop, so `$pad("", 500000000)` held the event loop for
 * seconds and half a gigabyte of memory.
 */
function cappedPad(maxResultBytes: number) {
  return (text: string | undefined, width: number, padding?: string): string | undefined => {
    if (text === undefined) return undefined;
    if (Math.abs(width) > maxResultBytes) {
      throw new ExpressionError('result-too-large', `The result exceeds ${maxResultBytes} bytes`);
    }
    const characters = [...text];
    const fill = [...(padding === undefined || padding === '' ? ' ' : padding)];
    const missing = Math.abs(width) - characters.length;
    if (missing <= 0) return text;
    const filler = Array.from({ length: missing }, (_, index) => fill[index % fill.length]).join('');
    return width > 0 ? text + filler : filler + text;
  };
}

/** A problem as one line for people: `<message> (at character <n>)`. */
export function describeExpressionProblem(problem: ExpressionProblem): string {
  return problem.position === null ? problem.message : `${problem.message} (at character ${problem.position})`;
}
