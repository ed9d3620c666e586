import { badUserInput, requireRole, WRITER_ROLES, type EntityManager, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import { LoginAttempt } from '../entities/login-attempt.entity.ts';

const MAX_PAGE = 100;

const createLoginAttemptInputSchema = z.object({
  name: z.string().trim().min(1, 'must not be empty').max(200, 'must be at most 200 characters'),
});

/** The loginAttempts of the caller's tenant: the request's unit of work sees no other tenant's. */
export class LoginAttemptService {
  async list(em: EntityManager, first: number): Promise<LoginAttempt[]> {
    const limit = Math.min(Math.max(first, 0), MAX_PAGE);
    if (limit === 0) return [];
    return em.find(LoginAttempt, {}, { orderBy: { createdAt: 'desc', id: 'desc' }, limit });
  }

  /** Needs a writer role: a VIEWER is refused with FORBIDDEN, an anonymous caller with UNAUTHENTICATED. */
  async create(em: EntityManager, identity: Identity, input: unknown): Promise<LoginAttempt> {
    const caller = requireRole(identity, WRITER_ROLES);
    const parsed = createLoginAttemptInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = issue.path.join('.');
      throw badUserInput(`"${field}" ${issue.message}`, { field });
    }
    const loginAttempt = em.create(LoginAttempt, { tenantId: caller.tenantId, createdBy: caller.userId, name: parsed.data.name });
    await em.flush();
    return loginAttempt;
  }
}
