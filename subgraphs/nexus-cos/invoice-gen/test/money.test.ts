import { describe, expect, it } from 'vitest';
import { computeTotals, currencyOf, formatMoney, formatPercent, majorUnits, parsePercent, taxOf } from '../src/domain/money.ts';

describe('invoice money', () => {
  it('rounds a line tax half-even: a tie goes to the even minor unit, anything else to the nearest', () => {
    expect(taxOf(25, 100_000)).toBe(2);
    expect(taxOf(35, 100_000)).toBe(4);
    expect(taxOf(26, 100_000)).toBe(3);
    expect(taxOf(24, 100_000)).toBe(2);
    expect(taxOf(1999, 88_750)).toBe(177);
    expect(taxOf(2_000_000_000, 1_000_000)).toBe(2_000_000_000);
  });

  it('rounds each line on its own and sums the rounded taxes, so that the lines add up to the totals printed', () => {
    const totals = computeTotals(
      [
        { description: 'A', quantity: 1, unitPriceMinor: 25, taxRatePpm: null },
        { description: 'B', quantity: 1, unitPriceMinor: 25, taxRatePpm: null },
        { description: 'C', quantity: 3, unitPriceMinor: 333, taxRatePpm: 70_000 },
      ],
      100_000,
    )!;
    expect(totals.lines.map((line) => [line.amountMinor, line.taxRatePpm, line.taxMinor])).toEqual([
      [25, 100_000, 2],
      [25, 100_000, 2],
      [999, 70_000, 70],
    ]);
    expect(totals).toMatchObject({ subtotalMinor: 1049, taxMinor: 74, totalMinor: 1123 });
  });

  it('refuses totals that a GraphQL Int cannot carry', () => {
    expect(computeTotals([{ description: 'Too much', quantity: 1_000_000, unitPriceMinor: 10_000, taxRatePpm: 0 }], 0)).toBeUndefined();
  });

  it('knows each ISO 4217 currency’s minor unit, and no code that is no money', () => {
    expect(currencyOf('eur')).toEqual({ code: 'EUR', exponent: 2 });
    expect(currencyOf('JPY')).toEqual({ code: 'JPY', exponent: 0 });
    expect(currencyOf('KWD')).toEqual({ code: 'KWD', exponent: 3 });
    expect(currencyOf('XOF')).toEqual({ code: 'XOF', exponent: 0 });
    for (const code of ['XAU', 'XXX', 'ABC', 'EURO', '']) expect(currencyOf(code), code).toBeUndefined();
  });

  it('writes amounts exactly in the currency’s minor unit', () => {
    expect(majorUnits(5, 2)).toBe('0.05');
    expect(majorUnits(123_456, 3)).toBe('123.456');
    expect(formatMoney(123_450, { code: 'EUR', exponent: 2 })).toBe('€1,234.50');
    expect(formatMoney(1_235, { code: 'JPY', exponent: 0 })).toBe('¥1,235');
    expect(formatMoney(1_250, { code: 'KWD', exponent: 3 })).toBe('KWD 1.250');
    expect(formatMoney(2_147_483_647, { code: 'USD', exponent: 2 }, 'code')).toBe('USD 21,474,836.47');
  });

  it('reads and writes tax rates as exact decimal percentages', () => {
    expect(parsePercent('8.875')).toBe(88_750);
    expect(parsePercent(' 20 ')).toBe(200_000);
    expect(parsePercent('100')).toBe(1_000_000);
    for (const bad of ['100.0001', '-1', '1e2', '5.12345', 'twenty', '']) expect(parsePercent(bad), bad).toBeUndefined();
    expect(formatPercent(88_750)).toBe('8.875');
    expect(formatPercent(200_000)).toBe('20');
    expect(formatPercent(0)).toBe('0');
  });
});
