import { Role } from '@nexusflow/kit';
import type { EntityManager } from '@mikro-orm/core';
import { Seeder } from '@mikro-orm/seeder';
import { hashPassword } from '../../src/domain/passwords.ts';
import { Tenant } from '../../src/entities/tenant.entity.ts';
import { User } from '../../src/entities/user.entity.ts';

export interface SeededTenant {
  tenant: Tenant;
  members: User[];
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
      em.create(User, {
        email: `member-${index}-${crypto.randomUUID()}@example.com`,
        name: `Member ${index}`,
        passwordHash,
        roles: [index === 0 ? Role.Owner : Role.Member],
        tenant,
      }),
    );
    await em.flush();
    context.seeded = { tenant, members, password };
  }
}

export async function seedTenant(em: EntityManager, name: string, memberCount: number): Promise<SeededTenant> {
  const context: { name: string; memberCount: number; seeded?: SeededTenant } = { name, memberCount };
  await new TenantWithMembersSeeder().run(em, context);
  return context.seeded!;
}
