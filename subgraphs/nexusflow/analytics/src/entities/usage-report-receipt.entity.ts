import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * A gateway usage report already counted, by its id: a delivery retried after a lost reply finds it here and counts
 * nothing twice. Platform data (reports mix tenants), hence no tenant filter.
 */
export const UsageReportReceiptSchema = defineEntity({
  name: 'UsageReportReceipt',
  tableName: 'usage_report_receipts',
  properties: {
    id: p.uuid().primary(),
    receivedAt: p.datetime().index(),
  },
});

export class UsageReportReceipt extends UsageReportReceiptSchema.class {}
UsageReportReceiptSchema.setClass(UsageReportReceipt);
