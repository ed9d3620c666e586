import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { getIntrospectionQuery, parse } from 'graphql';
import { describe, expect, it } from 'vitest';
import {
  checkDocumentLimits,
  checkVariableDepth,
  DEFAULT_OPERATION_LIMITS,
  measureDocument,
  OperationRefused,
  parseWithinLimits,
} from '../src/admission/operation-limits.ts';

const limits = DEFAULT_OPERATION_LIMITS;

/** The attack of the security review: each level spreads the level below twice, under two aliases. */
function doublingFragments(levels: number): string {
  let fragments = 'fragment L0 on User { id email }\n';
  for (let level = 1; level <= levels; level++) {
    fragments += `fragment L${level} on User { a: tenant { users { ...L${level - 1} } } b: tenant { users { ...L${level - 1} } } }\n`;
  }
  return `{ me { ...L${levels} } }\n${fragments}`;
}

function refusal(run: () => unknown): OperationRefused {
  try {
    run();
  } catch (error) {
    if (error instanceof OperationRefused) return error;
    throw error;
  }
  throw new Error('expected the document to be refused');
}

describe('measuring a document', () => {
  it('counts fields, aliases and depth through fragments as if they were expanded', () => {
    const measures = measureDocument(parse('{ me { ...Who friend: me { ...Who } } } fragment Who on User { id name }'), 5);
    expect(measures).toEqual({ fields: 6, aliases: 1, depth: 3, rootFields: 1 });
  });

  it('measures fragments that double at every level without expanding them, in time linear in the document', () => {
    const measures = measureDocument(parse(doublingFragments(40)), 5);
    expect(measures.fields).toBeGreaterThan(2 ** 40);
    expect(measures.depth).toBe(82);
  });

  it('counts fragments that no operation spreads, since validation still reads them', () => {
    const measures = measureDocument(parse('{ me { id } } fragment Unused on User { a: id b: id c: id }'), 5);
    expect(measures).toMatchObject({ fields: 5, aliases: 3 });
  });

  it('treats a fragment that spreads itself as empty instead of looping, leaving the refusal to validation', () => {
    expect(measureDocument(parse('{ me { ...Loop } } fragment Loop on User { id ...Loop }'), 5)).toMatchObject({ fields: 2 });
  });

  it('counts root fields through fragments, per operation', () => {
    const measures = measureDocument(
      parse('query A { a: me { id } ...Roots } query B { me { id } } fragment Roots on Query { b: me { id } c: me { id } }'),
      5,
    );
    expect(measures.rootFields).toBe(3);
  });
});

describe('the default limits', () => {
  it('let every operation of the web client and GraphiQL’s introspection query through', () => {
    const directory = join(import.meta.dirname, '../../clients/web/operations');
    const fragmentsAndOperations = readdirSync(directory).map((file) => readFileSync(join(directory, file), 'utf8'));
    for (const source of [
      ...fragmentsAndOperations,
      getIntrospectionQuery({ descriptions: true, specifiedByUrl: true, directiveIsRepeatable: true, inputValueDeprecation: true }),
    ]) {
      expect(() => parseWithinLimits(source, limits)).not.toThrow();
    }
  });

  it('refuse the doubling fragments at 12 levels, 1.7 KB of text', () => {
    const source = doublingFragments(12);
    expect(source.length).toBeLessThan(2000);
    expect(refusal(() => parseWithinLimits(source, limits)).code).toBe('MAX_DEPTH_LIMIT');
  });
});

describe('each limit refuses with its own code and says what the limit is', () => {
  it.each([
    ['tokens', `{ ${'__typename '.repeat(6000)} }`, 'MAX_TOKENS_LIMIT', 'The document has more than 5,000 tokens; parsing stopped there'],
    [
      'depth',
      `{ me { ${'tenant { users { '.repeat(8)}id${' } }'.repeat(8)} } }`,
      'MAX_DEPTH_LIMIT',
      'The operation nests selections 18 levels deep; at most 15 are allowed',
    ],
    [
      'aliases',
      `{ me { ${Array.from({ length: 31 }, (_, i) => `a${i}: id`).join(' ')} } }`,
      'MAX_ALIASES_LIMIT',
      'The operation uses 31 aliases once fragments are expanded; at most 30 are allowed',
    ],
    [
      'root fields',
      `{ ${Array.from({ length: 21 }, (_, i) => `r${i}: me { id }`).join(' ')} }`,
      'MAX_ROOT_FIELDS_LIMIT',
      'The operation selects 21 root fields; at most 20 are allowed',
    ],
    [
      'directives on one field',
      '{ me @a @b @c @d @e @f { id } }',
      'MAX_DIRECTIVES_LIMIT',
      'Field "me" has 6 directives; at most 5 are allowed on one field',
    ],
    [
      'fields after expansion',
      `{ me { ...F10 } } fragment F0 on User { id email } ${Array.from({ length: 10 }, (_, i) => `fragment F${i + 1} on User { ...F${i} ...F${i} }`).join(' ')}`,
      'MAX_FIELDS_LIMIT',
      'The operation selects 2,049 fields once fragments are expanded; at most 1,000 are allowed',
    ],
  ])('%s', (_name, source, code, message) => {
    const refused = refusal(() => parseWithinLimits(source, limits));
    expect({ code: refused.code, message: refused.message, status: refused.status }).toEqual({ code, message, status: 400 });
  });

  it('leaves a syntax error to the parser, with its location', () => {
    expect(() => parseWithinLimits('{ me { id ', limits)).toThrow(/Syntax Error/);
  });

  it('takes the limits it is given', () => {
    expect(() => checkDocumentLimits(parse('{ a: me { id } }'), { ...limits, maxAliases: 0 })).toThrow(OperationRefused);
    expect(() => checkDocumentLimits(parse('{ me { id } }'), { ...limits, maxAliases: 0 })).not.toThrow();
  });
});

describe('variables', () => {
  const nested = (levels: number) => JSON.parse(`${'{"a":'.repeat(levels)}1${'}'.repeat(levels)}`) as unknown;

  it('refuses variables nested 20,000 levels deep as bad input, without recursing', () => {
    const refused = refusal(() => checkVariableDepth({ input: nested(20_000) }, limits.maxVariableDepth));
    expect({ code: refused.code, message: refused.message }).toEqual({
      code: 'BAD_USER_INPUT',
      message: 'Variables are nested more than 32 levels deep',
    });
  });

  it('accepts variables nested up to the limit, lists included', () => {
    expect(() => checkVariableDepth({ input: nested(30) }, limits.maxVariableDepth)).not.toThrow();
    expect(() => checkVariableDepth({ list: [[[1]]], flag: true, none: null }, limits.maxVariableDepth)).not.toThrow();
  });
});
