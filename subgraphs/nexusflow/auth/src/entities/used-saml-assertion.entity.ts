import { tenantFilter } from '@nexusflow/kit';
import { defineEntity, p } from '@mikro-orm/postgresql';

/**
 * An assertion that signed someone in, remembered until it would expire anyway: its primary key is what refuses a
 * second use, on every auth instance at once.
 */
export const UsedSamlAssertionSchema = defineEntity({
  name: 'UsedSamlAssertion',
  tableName: 'used_saml_assertions',
  filters: tenantFilter(),
  properties: {
    tenantId: p.uuid().primary(),
    /** The assertion's ID attribute, chosen by the IdP. */
    assertionId: p.string().primary(),
    /** Its validity's end (plus the accepted clock skew): after it, the assertion is refused as expired anyway. */
    expiresAt: p.datetime().index(),
  },
});

export class UsedSamlAssertion extends UsedSamlAssertionSchema.class {}
UsedSamlAssertionSchema.setClass(UsedSamlAssertion);
