import type { MigrationObject } from '@mikro-orm/core';
import { InitialBillingServiceSchema } from './0001-initial.ts';
import { StripeEventBackoff } from './0002-stripe-event-backoff.ts';
import { RefundKind } from './0003-refund-kind.ts';

/** In order of application; never reorder or edit an applied migration, add a new one. */
export const migrations: MigrationObject[] = [
  { name: '0001-initial', class: InitialBillingServiceSchema },
  { name: '0002-stripe-event-backoff', class: StripeEventBackoff },
  { name: '0003-refund-kind', class: RefundKind },
];
