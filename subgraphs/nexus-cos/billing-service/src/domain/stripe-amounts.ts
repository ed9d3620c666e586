/**
 * Stripe's API counts most currencies in their ISO 4217 minor units, as invoice-gen does, but not all
 * (https://docs.stripe.com/currencies#special-cases): ISK has no minor unit in ISO 4217, yet Stripe still counts it in
 * hundredths (100 is one króna); MGA has two ISO digits, yet Stripe counts whole ariary. An amount sent as it stands
 * would charge 100 times too little or too much. The value is how many more decimal digits Stripe counts than ISO.
 */
const STRIPE_EXTRA_DIGITS: Readonly<Record<string, number>> = { ISK: 2, MGA: -2 };

/** Three-decimal currencies, which Stripe's card partners take only in multiples of ten thousandths. */
const LAST_DIGIT_ZERO = new Set(['BHD', 'JOD', 'KWD', 'OMR', 'TND']);

const extraDigitsOf = (currency: string) => STRIPE_EXTRA_DIGITS[currency.toUpperCase()] ?? 0;

/** `minor` units of `currency` as Stripe's API counts them, or null where Stripe cannot take that amount (MGA 1.50). */
export function toStripeAmount(currency: string, minor: number): number | null {
  const extra = extraDigitsOf(currency);
  if (LAST_DIGIT_ZERO.has(currency.toUpperCase()) && minor % 10 !== 0) return null;
  if (extra >= 0) return minor * 10 ** extra;
  const divisor = 10 ** -extra;
  return minor % divisor === 0 ? minor / divisor : null;
}

/** Why Stripe cannot take an amount {@link toStripeAmount} refused, for people. */
export function stripeAmountRule(currency: string): string {
  const code = currency.toUpperCase();
  return LAST_DIGIT_ZERO.has(code) ? `Stripe takes ${code} in multiples of 0.010 only` : `Stripe takes ${code} in whole units only`;
}

/** An amount of Stripe's in `currency` (a fee) in that currency's ISO 4217 minor units. */
export function fromStripeAmount(currency: string, amount: number): number {
  const extra = extraDigitsOf(currency);
  return extra >= 0 ? Math.round(amount / 10 ** extra) : amount * 10 ** -extra;
}
