import { GraphQLError, GraphQLScalarType, Kind } from 'graphql';
import { utcDay } from '../platform/dates.ts';
import { ErrorCode } from '../platform/errors.ts';

/**
 * A value the scalar refuses: the caller's mistake. Written in a document, graphql-js reports it as a validation error;
 * its code tells the subgraph it is the value's fault (see defineSubgraph's formatError).
 */
const refused = (message: string) => new GraphQLError(message, { extensions: { code: ErrorCode.BadUserInput } });

/**
 * The years an instant may fall in: ISO 8601's four digits, which PostgreSQL stores and every client parses. JavaScript
 * reads years up to ±275760, which PostgreSQL refuses as a driver error rather than as the caller's mistake.
 */
const FIRST_YEAR = 1;
const LAST_YEAR = 9999;

/** The calendar date an ISO-8601 text starts with: its year, month and day as written. */
const CALENDAR_DATE = /^([+-]\d{6}|\d{4})-(\d{2})-(\d{2})/;

/** Whether the day written exists in its month: JavaScript reads 30 February as 2 March, and 31 April as 1 May. */
function isCalendarDay(text: string): boolean {
  const written = CALENDAR_DATE.exec(text);
  if (!written) return true;
  const [year, month, day] = [Number(written[1]), Number(written[2]), Number(written[3])];
  return utcDay(year, month - 1, day).getUTCDate() === day && month >= 1 && month <= 12;
}

function toDate(value: unknown): Date {
  const date = value instanceof Date ? value : typeof value === 'string' || typeof value === 'number' ? new Date(value) : undefined;
  if (!date || Number.isNaN(date.getTime()) || (typeof value === 'string' && !isCalendarDay(value)))
    throw refused('DateTime must be an ISO-8601 date-time string');
  const year = date.getUTCFullYear();
  if (year < FIRST_YEAR || year > LAST_YEAR) throw refused('DateTime must fall between the years 0001 and 9999');
  return date;
}

/** An ISO-8601 instant in UTC, e.g. `2026-01-31T12:00:00.000Z`. */
export const DateTimeScalar = new GraphQLScalarType<Date, string>({
  name: 'DateTime',
  description: 'An ISO-8601 instant in UTC, e.g. 2026-01-31T12:00:00.000Z',
  serialize: (value) => toDate(value).toISOString(),
  parseValue: (value) => toDate(value),
  parseLiteral: (ast) => {
    if (ast.kind !== Kind.STRING) throw refused('DateTime must be a string');
    return toDate(ast.value);
  },
});

/** Any JSON value, passed through as it is. */
export const JSONScalar = new GraphQLScalarType<unknown, unknown>({
  name: 'JSON',
  description: 'Any JSON value',
  serialize: (value) => value,
  parseValue: (value) => value,
  parseLiteral: function literal(ast, variables): unknown {
    switch (ast.kind) {
      case Kind.STRING:
      case Kind.BOOLEAN:
        return ast.value;
      case Kind.INT:
        return Number.parseInt(ast.value, 10);
      case Kind.FLOAT:
        return Number.parseFloat(ast.value);
      case Kind.NULL:
        return null;
      case Kind.LIST:
        return ast.values.map((value) => literal(value, variables));
      case Kind.OBJECT:
        return Object.fromEntries(ast.fields.map((field) => [field.name.value, literal(field.value, variables)]));
      case Kind.VARIABLE:
        return variables?.[ast.name.value];
      default:
        throw new GraphQLError('JSON literal is not a JSON value');
    }
  },
});
