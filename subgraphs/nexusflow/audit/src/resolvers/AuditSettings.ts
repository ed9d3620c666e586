import type { AuditSettingsResolvers } from '../__generated__/resolvers-types.ts';

export const AuditSettings: AuditSettingsResolvers = {
  legalHold: ({ legalHoldReason, legalHoldPlacedAt, legalHoldPlacedBy }) =>
    legalHoldReason && legalHoldPlacedAt && legalHoldPlacedBy
      ? { reason: legalHoldReason, placedAt: legalHoldPlacedAt, placedBy: legalHoldPlacedBy }
      : null,
};
