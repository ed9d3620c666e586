/**
 * Midnight UTC of a calendar day, for any year: `Date.UTC` reads years 0 to 99 as 1900 to 1999, so the first day of
 * month 1 of year 5 would be 1905. Months and days out of range roll over as `Date.UTC`'s do.
 */
export function utcDay(year: number, month: number, day: number): Date {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  return date;
}
