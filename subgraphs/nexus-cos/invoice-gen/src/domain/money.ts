import { code as currencyByCode } from 'currency-codes';

/** The largest amount in minor units a GraphQL Int (and so every amount of the contract) can carry. */
export const MAX_MINOR = 2_147_483_647;

/** Rates are kept as parts per million of the amount: percent with 4 decimals, exactly, as an integer. */
const PPM_PER_PERCENT = 10_000;
const PERCENT = /^(\d{1,3})(?:\.(\d{1,4}))?$/;

export interface Currency {
  /** ISO 4217, upper case. */
  code: string;
  /** Digits of the minor unit, ISO 4217's "minor unit" column: 2 for EUR, 0 for JPY, 3 for KWD. */
  exponent: number;
}

/**
 * The ISO 4217 currency of `code` (any case), from the `currency-codes` list, or undefined for an unknown code or one
 * that is no money (gold, SDR, the test code: the entries ISO lists under no country).
 */
export function currencyOf(code: string): Currency | undefined {
  const record = /^[A-Za-z]{3}$/.test(code) ? currencyByCode(code.toUpperCase()) : undefined;
  if (!record || !Number.isInteger(record.digits) || record.countries.every((country) => /^zz/i.test(country))) return undefined;
  return { code: record.code, exponent: record.digits };
}

/** "8.875" → 88_750 ppm; undefined when it is not a percentage from 0 to 100 with at most 4 decimals. */
export function parsePercent(text: string): number | undefined {
  const match = PERCENT.exec(text.trim());
  if (!match) return undefined;
  const ppm = Number(match[1]) * PPM_PER_PERCENT + Number((match[2] ?? '').padEnd(4, '0'));
  return ppm <= 100 * PPM_PER_PERCENT ? ppm : undefined;
}

/** 88_750 ppm → "8.875": the shortest exact decimal. */
export function formatPercent(ppm: number): string {
  const whole = Math.trunc(ppm / PPM_PER_PERCENT);
  const fraction = String(ppm % PPM_PER_PERCENT)
    .padStart(4, '0')
    .replace(/0+$/, '');
  return fraction ? `${whole}.${fraction}` : String(whole);
}

/**
 * amount × ppm / 1,000,000 rounded half-even (a tie goes to the even neighbour, so that ties do not all round up over
 * many lines), in integers: no floating-point step. Amounts are never negative here.
 */
export function taxOf(amountMinor: number, ppm: number): number {
  const product = BigInt(amountMinor) * BigInt(ppm);
  const divisor = 1_000_000n;
  const quotient = product / divisor;
  const twiceRemainder = (product % divisor) * 2n;
  const roundsUp = twiceRemainder > divisor || (twiceRemainder === divisor && quotient % 2n === 1n);
  return Number(roundsUp ? quotient + 1n : quotient);
}

/** The amount as a decimal string in major units, exactly: 123456 with exponent 2 → "1234.56". */
export function majorUnits(minor: number, exponent: number): string {
  if (exponent === 0) return String(minor);
  const digits = String(Math.abs(minor)).padStart(exponent + 1, '0');
  return `${minor < 0 ? '-' : ''}${digits.slice(0, -exponent)}.${digits.slice(-exponent)}`;
}

/**
 * The amount for people, in English conventions with the currency's symbol (€1,234.50, ¥1,235, KWD 1.250) or its
 * code (EUR 1,234.50).
 */
export function formatMoney(minor: number, currency: Currency, display: 'symbol' | 'code' = 'symbol'): string {
  const format = new Intl.NumberFormat('en-US', {
    style: 'currency',
    currency: currency.code,
    currencyDisplay: display,
    minimumFractionDigits: currency.exponent,
    maximumFractionDigits: currency.exponent,
  });
  // A decimal string, formatted exactly as written (no binary fraction in between); ICU's no-break space becomes a
  // plain one, which every font and every search has.
  return format.format(majorUnits(minor, currency.exponent) as `${number}`).replaceAll('\u00a0', ' ');
}

export interface LineInput {
  description: string;
  quantity: number;
  unitPriceMinor: number;
  /** Parts per million; the invoice's rate when null. */
  taxRatePpm: number | null;
}

export interface ComputedLine {
  position: number;
  description: string;
  quantity: number;
  unitPriceMinor: number;
  amountMinor: number;
  taxRatePpm: number;
  taxMinor: number;
}

export interface Totals {
  lines: ComputedLine[];
  subtotalMinor: number;
  taxMinor: number;
  totalMinor: number;
}

/**
 * Each line's amount and tax (rounded per line, half-even), and the invoice's sums of them. Undefined when any amount
 * would not fit the contract's Int.
 */
export function computeTotals(lines: readonly LineInput[], invoiceRatePpm: number): Totals | undefined {
  const computed = lines.map((line, index): ComputedLine => {
    const amountMinor = line.quantity * line.unitPriceMinor;
    const taxRatePpm = line.taxRatePpm ?? invoiceRatePpm;
    return { position: index + 1, ...line, amountMinor, taxRatePpm, taxMinor: taxOf(amountMinor, taxRatePpm) };
  });
  const subtotalMinor = computed.reduce((sum, line) => sum + line.amountMinor, 0);
  const taxMinor = computed.reduce((sum, line) => sum + line.taxMinor, 0);
  const totalMinor = subtotalMinor + taxMinor;
  if (computed.some((line) => line.amountMinor + line.taxMinor > MAX_MINOR) || totalMinor > MAX_MINOR) return undefined;
  return { lines: computed, subtotalMinor, taxMinor, totalMinor };
}
