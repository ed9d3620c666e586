import { badUserInput } from './errors.ts';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Ids are UUIDs; anything else cannot exist, and must not reach PostgreSQL as a malformed uuid. */
export function isUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * An id a client passed (an argument, or a field of an input object), checked before it reaches a database or another
 * service: PostgreSQL would refuse anything but a UUID as a uuid parameter, and the client would get
 * INTERNAL_SERVER_ERROR for its own mistake. Throws BAD_USER_INPUT naming `field`; an absent optional id passes.
 */
export function requireUuid<Id extends string | null | undefined>(value: Id, field: string): Id {
  if (typeof value === 'string' && !isUuid(value)) throw badUserInput(`"${field}" must be a UUID`, { field });
  return value;
}
