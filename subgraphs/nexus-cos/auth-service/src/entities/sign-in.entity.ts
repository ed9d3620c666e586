import { entityBase, tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/** A successful sign-in, for its user's security log: the tenant filter keeps other tenants' rows out of every query. */
export const SignInSchema = defineEntity({
  name: 'SignIn',
  tableName: 'sign_ins',
  filters: tenantFilter(),
  properties: {
    ...entityBase,
    tenantId: p.uuid().index(),
    userId: p.uuid().index(),
    sessionId: p.uuid(),
    clientAddress: p.string().nullable(),
    userAgent: p.string().nullable(),
  },
});

export class SignIn extends SignInSchema.class {}
SignInSchema.setClass(SignIn);
