import { z } from 'zod';
import { badUserInput } from '@nexusflow/kit';

/** The longest event type, template subject, email address or phone number: the room of their columns. */
export const MAX_TEXT_LENGTH = 255;

/** An event type as every operation takes it: 1 to 255 characters, not only spaces. */
export function requireEventType(eventType: string, field = 'eventType'): string {
  if (eventType.trim() === '' || eventType.length > MAX_TEXT_LENGTH)
    throw badUserInput(`${field} must have 1 to ${MAX_TEXT_LENGTH} characters`, { field });
  return eventType;
}

/** An address as the transactional mails check it (RFC 5321 allows 254 characters). */
const EMAIL = z.email().max(254);
/** E.164, as the schema describes the field: a plus, then up to 15 digits, the first not 0. */
const E164 = /^\+[1-9]\d{1,14}$/;

/** Contact points as they are stored: each absent, or one that could be delivered to. */
export function checkContactPoints(input: { email?: string | null; phone?: string | null }): void {
  if (input.email != null && !EMAIL.safeParse(input.email).success)
    throw badUserInput('email must be an email address', { field: 'email' });
  if (input.phone != null && !E164.test(input.phone))
    throw badUserInput('phone must be in E.164 form, e.g. +4915112345678', { field: 'phone' });
}

/** A template subject fits its column; its body is text of any length. */
export function checkTemplate(input: { eventType: string; subject?: string | null }): void {
  requireEventType(input.eventType);
  if (input.subject != null && input.subject.length > MAX_TEXT_LENGTH)
    throw badUserInput(`subject must have at most ${MAX_TEXT_LENGTH} characters`, { field: 'subject' });
}
