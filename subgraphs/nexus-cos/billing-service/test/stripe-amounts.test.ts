import { describe, expect, it } from 'vitest';
import { fromStripeAmount, stripeAmountRule, toStripeAmount } from '../src/domain/stripe-amounts.ts';

describe("amounts in Stripe's units", () => {
  it('are the ISO 4217 minor units for most currencies, whatever their number of digits', () => {
    expect(toStripeAmount('EUR', 12_000)).toBe(12_000);
    expect(toStripeAmount('JPY', 10_000)).toBe(10_000);
    expect(fromStripeAmount('usd', 224)).toBe(224);
  });

  it('count Icelandic krónur in hundredths, as Stripe still does, and read its amounts back in whole krónur', () => {
    expect(toStripeAmount('ISK', 12_500)).toBe(1_250_000);
    expect(toStripeAmount('isk', 1)).toBe(100);
    expect(fromStripeAmount('isk', 36_280)).toBe(363);
  });

  it('take three-decimal currencies in multiples of ten thousandths only, as Stripe does', () => {
    expect(toStripeAmount('KWD', 5_120)).toBe(5_120);
    expect(toStripeAmount('KWD', 5_125)).toBeNull();
    expect(stripeAmountRule('kwd')).toBe('Stripe takes KWD in multiples of 0.010 only');
  });

  it('count Malagasy ariary whole, as Stripe does, and refuse an amount with a fraction of one', () => {
    expect(toStripeAmount('MGA', 15_000)).toBe(150);
    expect(toStripeAmount('MGA', 150)).toBeNull();
    expect(stripeAmountRule('MGA')).toBe('Stripe takes MGA in whole units only');
    expect(fromStripeAmount('mga', 5)).toBe(500);
  });
});
