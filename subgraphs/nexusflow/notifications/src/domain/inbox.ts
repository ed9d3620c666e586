import { ADMIN_ROLES, requireRole, requireUser, type EntityManager, type Identity } from '@nexusflow/kit';
import { Contact } from '../entities/contact.entity.ts';
import { Notification } from '../entities/notification.entity.ts';
import { Preference } from '../entities/preference.entity.ts';
import { Template } from '../entities/template.entity.ts';
import { checkContactPoints, checkTemplate, requireEventType } from './validation.ts';

/**
 * What a signed-in user does with their own notifications and settings, and tenant templates. Every unit of work here
 * is the request's, scoped to the caller's tenant: the user checks below keep a user to their own rows within it.
 */
export class Inbox {
  list(em: EntityManager, identity: Identity, userId: string, first: number, unreadOnly: boolean): Promise<Notification[]> {
    if (identity.kind !== 'user' || identity.userId !== userId) return Promise.resolve([]);
    return em.find(
      Notification,
      { userId, inApp: true, ...(unreadOnly ? { readAt: null } : {}) },
      { orderBy: { createdAt: 'desc', id: 'desc' }, limit: Math.min(Math.max(first, 0), 100) },
    );
  }

  /**
   * The user's notifications created since `since`, oldest first: at most `limit`, the newest. Read from a fresh
   * context, as a long-lived subscription's identity map would serve stale rows.
   */
  async createdSince(em: EntityManager, user: { userId: string }, since: Date, limit: number): Promise<Notification[]> {
    const newest = await em
      .fork()
      .find(
        Notification,
        { userId: user.userId, inApp: true, createdAt: { $gte: since } },
        { orderBy: { createdAt: 'desc', id: 'desc' }, limit },
      );
    return newest.reverse();
  }

  unreadCount(em: EntityManager, identity: Identity, userId: string): Promise<number> {
    if (identity.kind !== 'user' || identity.userId !== userId) return Promise.resolve(0);
    return em.count(Notification, { userId, inApp: true, readAt: null });
  }

  async markRead(em: EntityManager, identity: Identity, id: string): Promise<Notification | null> {
    const user = requireUser(identity);
    const notification = await em.findOne(Notification, { id, userId: user.userId });
    if (notification && !notification.readAt) {
      notification.readAt = new Date();
      await em.flush();
    }
    return notification;
  }

  markAllRead(em: EntityManager, identity: Identity): Promise<number> {
    const user = requireUser(identity);
    return em.nativeUpdate(Notification, { userId: user.userId, readAt: null }, { readAt: new Date() });
  }

  preferences(em: EntityManager, identity: Identity, userId: string): Promise<Preference[]> {
    if (identity.kind !== 'user' || identity.userId !== userId) return Promise.resolve([]);
    return em.find(Preference, { userId }, { orderBy: { eventType: 'asc' } });
  }

  async setPreference(em: EntityManager, identity: Identity, eventType: string, channels: string[]): Promise<Preference> {
    const user = requireUser(identity);
    requireEventType(eventType);
    const existing = await em.findOne(Preference, { userId: user.userId, eventType });
    const preference = existing ?? em.create(Preference, { tenantId: user.tenantId, userId: user.userId, eventType, channels: [] });
    preference.channels = [...new Set(channels)];
    await em.flush();
    return preference;
  }

  contact(em: EntityManager, identity: Identity): Promise<Contact | null> {
    const user = requireUser(identity);
    return em.findOne(Contact, { userId: user.userId });
  }

  async setContact(
    em: EntityManager,
    identity: Identity,
    input: { email?: string | null; phone?: string | null; pushToken?: string | null },
  ): Promise<Contact> {
    const user = requireUser(identity);
    checkContactPoints(input);
    const contact =
      (await em.findOne(Contact, { userId: user.userId })) ?? em.create(Contact, { userId: user.userId, tenantId: user.tenantId });
    Object.assign(contact, { email: input.email ?? null, phone: input.phone ?? null, pushToken: input.pushToken ?? null });
    await em.flush();
    return contact;
  }

  templates(em: EntityManager): Promise<Template[]> {
    return em.find(Template, {}, { orderBy: { eventType: 'asc', channel: 'asc' } });
  }

  async setTemplate(
    em: EntityManager,
    identity: Identity,
    input: { eventType: string; channel: string; subject?: string | null; body: string },
  ): Promise<Template> {
    // A template words what every member of the tenant receives.
    const user = requireRole(identity, ADMIN_ROLES);
    checkTemplate(input);
    const existing = await em.findOne(Template, { eventType: input.eventType, channel: input.channel });
    const template =
      existing ?? em.create(Template, { tenantId: user.tenantId, eventType: input.eventType, channel: input.channel, body: input.body });
    Object.assign(template, { subject: input.subject ?? null, body: input.body });
    await em.flush();
    return template;
  }
}
