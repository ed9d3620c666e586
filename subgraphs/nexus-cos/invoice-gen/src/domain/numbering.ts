import type { EntityManager } from '@nexusflow/kit';

/**
 * The tenant's next invoice number of `year`, taken in the caller's transaction: the upsert locks the counter's row
 * until that transaction ends, so concurrent issues of the tenant wait in turn, and a rolled-back issue gives its number
 * back. Numbers are therefore gapless, and in the order in which issues commit.
 */
export async function takeInvoiceNumber(tx: EntityManager, tenantId: string, year: number): Promise<number> {
  const [row] = await tx.execute<{ last_number: number }[]>(
    `insert into "invoice_number_counters" ("tenant_id", "year", "last_number") values (?, ?, 1)
     on conflict ("tenant_id", "year") do update set "last_number" = "invoice_number_counters"."last_number" + 1
     returning "last_number"`,
    [tenantId, year],
  );
  return Number(row!.last_number);
}

/** `INV-2026-000042`: six digits at least, more once a tenant issues a millionth invoice in a year. */
export const formatInvoiceNumber = (prefix: string, year: number, sequence: number): string =>
  `${prefix}-${year}-${String(sequence).padStart(6, '0')}`;
