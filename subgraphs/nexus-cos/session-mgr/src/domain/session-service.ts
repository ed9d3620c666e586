import { badUserInput, requireRole, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import { Session } from '../entities/session.entity.ts';

const MAX_PAGE = 100;

const createSessionInputSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

/** The sessions of the caller's tenant: the request's unit of work sees no other tenant's. */
export class SessionService {
  async list(em: EntityManager, first: number): Promise<Session[]> {
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    if (limit === 0) return [];
    return em.find(Session, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** Needs a writer role: a VIEWER is refused with FORBIDDEN, an anonymous caller with UNAUTHENTICATED. */
  async create(em: EntityManager, identity: Identity, input: unknown): Promise<Session> {
    const caller = requireRole(identity, WRITER_ROLES);
    const parsed = createSessionInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.');
      throw badUserInput(`"${field}" ${issue.message}`, { field });
    }
    const session = em.create(Session, { tenantId: caller.tenantId, createdBy: caller.userId, name: parsed.data.name });
    await em.flush();
    return session;
  }
}
