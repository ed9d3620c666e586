import { randomBytes } from 'node:crypto';
import { hashPassword } from '@nexusflow/kit';

// The hashing itself lives in the kit, shared with Nexus COS's user-auth.
export { hashPassword, verifyPassword } from '@nexusflow/kit';

/**
 * Compared against when the email is unknown, so that a failed sign-in takes as long whether or not
 * the account exists and response times do not reveal which emails are registered.
 */
export const UNKNOWN_USER_PASSWORD_HASH = await hashPassword(randomBytes(16).toString('hex'));
