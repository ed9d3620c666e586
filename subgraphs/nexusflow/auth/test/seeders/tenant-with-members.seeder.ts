import { hashPassword, Role } from '@nexusflow/kit';
import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { Membership } from '../../src/entities/membership.entity.ts';
import { Tenant } from '../../src/entities/tenant.entity.ts';
import { User } from '../../src/entities/user.entity.ts';

export interface SeededTenant {
  tenant: Tenant;
  /** The people, in order; the first is the OWNER and the rest MEMBERs. */
  members: User[];
  memberships: Membership[];
  password: string;
}

/** A tenant whose first member is its owner, with `memberCount` members in all. */
export class TenantWithMembersSeeder extends Seeder<{ name: string; memberCount: number; seeded?: SeededTenant }> {
  async run(em: EntityManager, context: { name: string; memberCount: number; seeded?: SeededTenant }): Promise<void> {
    const password = 'seeded password 123';
    // One hash for every member: the KDF is deliberately slow and the test is about reads.
    const passwordHash = await hashPassword(password);
    const tenant = em.create(Tenant, {
      name: context.name,
      slug: `${context.name.toLowerCase().replace(/\W+/g, '-')}-${crypto.randomUUID().slice(0, 8)}`,
    });
    const members = Array.from({ length: context.memberCount }, (_, index) =>
      em.create(User, { email: `member-${index}-${crypto.randomUUID()}@example.com`, name: `Member ${index}`, passwordHash }),
    );
    const memberships = members.map((user, index) =>
      em.create(Membership, { tenant, user, role: index === 0 ? Role.Owner : Role.Member, lastActiveAt: null }),
    );
    await em.flush();
    context.seeded = { tenant, members, memberships, password };
  }
}

export async function seedTenant(em: EntityManager, name: string, memberCount: number): Promise<SeededTenant> {
  const context: { name: string; memberCount: number; seeded?: SeededTenant } = { name, memberCount };
  await new TenantWithMembersSeeder().run(em, context);
  return context.seeded!;
}
