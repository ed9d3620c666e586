import {
  callSubgraph,
  clientError,
  ErrorCode,
  requireRole,
  Role,
  SubgraphRequestError,
  type EntityManager,
  type Identity,
} from '@nexusflow/kit';
import { LedgerSettledMoneyMovementsDocument } from '../__generated__/billing-service-operations.ts';
import { JournalEntry } from '../entities/journal-entry.entity.ts';
import { JournalLine } from '../entities/journal-line.entity.ts';

export type MoneyMovementKind = 'PAYMENT' | 'REFUND' | 'FEE';

export interface ReconciliationItem {
  reference: string;
  kind: MoneyMovementKind;
  currency: string;
  ledgerAmountMinor: number | null;
  billingAmountMinor: number | null;
  occurredAt: Date;
}

export interface ReconciliationReport {
  from: Date;
  to: Date;
  clean: boolean;
  matched: ReconciliationItem[];
  missingInLedger: ReconciliationItem[];
  missingInBilling: ReconciliationItem[];
  amountMismatches: ReconciliationItem[];
}

interface Movement {
  reference: string;
  kind: MoneyMovementKind;
  currency: string;
  amountMinor: number;
  occurredAt: Date;
}

const CASH_SOURCES = ['PAYMENT', 'REFUND', 'FEE'] as const;
/** A year of movements is what one report reads at most: longer periods are reconciled piece by piece. */
const MAX_PERIOD_MS = 366 * 24 * 3_600_000;

/**
 * The ledger's cash movements (payments in, refunds and fees out) compared, by the idempotency key both sides know,
 * with what billing-service says Stripe settled over the same period.
 */
export class Reconciliation {
  constructor(
    private readonly billingServiceUrl: string,
    private readonly internalSecret: string,
  ) {}

  /** Needs the OWNER or ADMIN role. */
  async report(em: EntityManager, identity: Identity, from: Date, to: Date): Promise<ReconciliationReport> {
    requireRole(identity, [Role.Owner, Role.Admin]);
    if (to.getTime() <= from.getTime()) throw clientError(ErrorCode.BadUserInput, '"to" must be after "from"', { field: 'to' });
    if (to.getTime() - from.getTime() > MAX_PERIOD_MS) {
      throw clientError(ErrorCode.BadUserInput, '"to" must be at most 366 days after "from"', { field: 'to' });
    }
    const [ledger, billing] = await Promise.all([this.ledgerMovements(em, from, to), this.billingMovements(identity, from, to)]);
    const billingByReference = new Map(billing.map((movement) => [movement.reference, movement]));
    const report: ReconciliationReport = {
      from,
      to,
      clean: true,
      matched: [],
      missingInLedger: [],
      missingInBilling: [],
      amountMismatches: [],
    };
    for (const posted of ledger) {
      const settled = billingByReference.get(posted.reference);
      billingByReference.delete(posted.reference);
      const item: ReconciliationItem = {
        reference: posted.reference,
        kind: posted.kind,
        currency: posted.currency,
        ledgerAmountMinor: posted.amountMinor,
        billingAmountMinor: settled?.amountMinor ?? null,
        occurredAt: posted.occurredAt,
      };
      if (!settled) report.missingInBilling.push(item);
      else if (settled.amountMinor !== posted.amountMinor || settled.currency !== posted.currency) report.amountMismatches.push(item);
      else report.matched.push(item);
    }
    for (const settled of billingByReference.values()) {
      report.missingInLedger.push({
        reference: settled.reference,
        kind: settled.kind,
        currency: settled.currency,
        ledgerAmountMinor: null,
        billingAmountMinor: settled.amountMinor,
        occurredAt: settled.occurredAt,
      });
    }
    report.clean = report.missingInLedger.length + report.missingInBilling.length + report.amountMismatches.length === 0;
    return report;
  }

  private async ledgerMovements(em: EntityManager, from: Date, to: Date): Promise<Movement[]> {
    const entries = await em.find(
      JournalEntry,
      { source: { $in: [...CASH_SOURCES] }, occurredAt: { $gte: from, $lt: to } },
      { orderBy: { occurredAt: 'asc', id: 'asc' } },
    );
    if (entries.length === 0) return [];
    const cashLines = await em.find(JournalLine, { entryId: { $in: entries.map((entry) => entry.id) }, accountCode: 'CASH' });
    const cashByEntry = new Map<string, number>();
    for (const line of cashLines) cashByEntry.set(line.entryId, (cashByEntry.get(line.entryId) ?? 0) + line.debitMinor - line.creditMinor);
    return entries.map((entry) => ({
      reference: entry.idempotencyKey,
      kind: entry.source as MoneyMovementKind,
      currency: entry.currency,
      amountMinor: Math.abs(cashByEntry.get(entry.id) ?? 0),
      occurredAt: entry.occurredAt,
    }));
  }

  private async billingMovements(identity: Identity, from: Date, to: Date): Promise<Movement[]> {
    try {
      const data = await callSubgraph({
        url: this.billingServiceUrl,
        query: LedgerSettledMoneyMovementsDocument,
        variables: { from: from.toISOString(), to: to.toISOString() },
        identity,
        internalSecret: this.internalSecret,
      });
      return data.settledMoneyMovements.map((movement) => ({ ...movement, occurredAt: new Date(movement.occurredAt) }));
    } catch (error) {
      if (error instanceof SubgraphRequestError && error.retryable) {
        throw clientError(ErrorCode.ServiceUnavailable, 'billing-service cannot be reached right now; try again shortly');
      }
      throw error;
    }
  }
}
