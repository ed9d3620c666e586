import { DateTimeScalar } from '@nexusflow/kit';
import type { Resolvers } from '../__generated__/resolvers-types.ts';
import { Mutation } from './Mutation.ts';
import { Payment } from './Payment.ts';
import { Query } from './Query.ts';
import { PayInvoiceResult, RefundPaymentResult } from './results.ts';

export const resolvers: Resolvers = { DateTime: DateTimeScalar, Query, Mutation, Payment, PayInvoiceResult, RefundPaymentResult };
