import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Role } from '@nexusflow/kit';
import { signUp, type SignedUp } from '../support/accounts.ts';
import { ask, errorCodes, idsOf } from '../support/requests.ts';
import { tokenWithRole, viewerToken } from '../support/roles.ts';
import { startStack, type Stack } from '../support/stack.ts';

const SET_TEMPLATE = `mutation ($input: NotificationTemplateInput!) { setNotificationTemplate(input: $input) { id eventType channel subject body } }`;
const TEMPLATES = `{ notificationTemplates { id eventType channel subject body } }`;
const SEND = `mutation ($input: SendNotificationInput!) { sendNotification(input: $input) { id title body } }`;
const NOTIFICATIONS = `query ($unreadOnly: Boolean) { notifications(unreadOnly: $unreadOnly) { id title read readAt } }`;
const MARK_READ = `mutation ($id: ID!) { markNotificationRead(id: $id) { id read readAt } }`;
const SET_CONTACT_POINTS = `mutation ($input: ContactPointsInput!) { setContactPoints(input: $input) { email } }`;
const CONTACT_POINTS = `{ contactPoints { email phone pushToken } }`;

/** The notification operations no other suite sends, through the gateway (embedded storage). */
describe('notification operations through the gateway', () => {
  let stack: Stack;
  let owner: SignedUp;
  let stranger: SignedUp;

  beforeAll(async () => {
    stack = await startStack('embedded', 'notifications_operations');
    [owner, stranger] = await Promise.all([
      signUp(stack.gateway.graphqlUrl, 'bell-owner'),
      signUp(stack.gateway.graphqlUrl, 'bell-stranger'),
    ]);
  });

  afterAll(async () => {
    await stack?.close();
  });

  async function notifyOwner(title: string): Promise<string> {
    const sent = (
      await ask(stack, owner.token, SEND, {
        input: { userId: owner.userId, eventType: `note.${randomUUID()}`, variables: { title, body: 'Details' } },
      })
    ).data?.sendNotification;
    if (!sent) throw new Error('sendNotification failed');
    return sent.id as string;
  }

  it("sets the tenant's template for an event type, which then words its notifications", async () => {
    const eventType = `report.ready.${randomUUID()}`;
    const template = { eventType, channel: 'IN_APP', subject: 'Report {{name}} is ready', body: '{{name}} has {{pages}} pages' };
    const set = (await ask(stack, owner.token, SET_TEMPLATE, { input: template })).data?.setNotificationTemplate;
    expect(set).toMatchObject(template);
    expect((await ask(stack, owner.token, TEMPLATES)).data?.notificationTemplates).toContainEqual({ id: set.id, ...template });

    const sent = (await ask(stack, owner.token, SEND, { input: { userId: owner.userId, eventType, variables: { name: 'Q3', pages: 12 } } }))
      .data?.sendNotification;
    expect(sent).toMatchObject({ title: 'Report Q3 is ready', body: 'Q3 has 12 pages' });
  });

  it('replaces the template of the same event type and channel rather than adding one', async () => {
    const eventType = `invoice.due.${randomUUID()}`;
    const first = (await ask(stack, owner.token, SET_TEMPLATE, { input: { eventType, channel: 'EMAIL', subject: 'Due', body: 'Pay' } }))
      .data?.setNotificationTemplate;
    const second = (await ask(stack, owner.token, SET_TEMPLATE, { input: { eventType, channel: 'EMAIL', body: 'Pay now' } })).data
      ?.setNotificationTemplate;

    expect(second).toEqual({ id: first.id, eventType, channel: 'EMAIL', subject: null, body: 'Pay now' });
    const templates: { eventType: string }[] = (await ask(stack, owner.token, TEMPLATES)).data?.notificationTemplates;
    expect(templates.filter((template) => template.eventType === eventType)).toEqual([second]);
  });

  it("refuses a VIEWER's and a MEMBER's template, which words what the whole tenant receives, and shows other tenants none of this tenant's templates", async () => {
    const eventType = `viewer.try.${randomUUID()}`;
    const attempt = async (token: string) => ask(stack, token, SET_TEMPLATE, { input: { eventType, channel: 'IN_APP', body: 'Nope' } });
    expect(errorCodes(await attempt(await viewerToken(stack, owner)))).toEqual(['FORBIDDEN']);
    expect(errorCodes(await attempt(await tokenWithRole(stack, owner, Role.Member)))).toEqual(['FORBIDDEN']);
    const templates: { eventType: string }[] = (await ask(stack, owner.token, TEMPLATES)).data?.notificationTemplates;
    expect(templates.some((template) => template.eventType === eventType)).toBe(false);

    expect(templates.length).toBeGreaterThan(0);
    expect((await ask(stack, stranger.token, TEMPLATES)).data?.notificationTemplates).toEqual([]);
  });

  it("lists the signed-in user's notifications newest first, the unread ones on their own", async () => {
    const older = await notifyOwner('Older');
    const newer = await notifyOwner('Newer');
    await ask(stack, owner.token, MARK_READ, { id: older });

    const all = idsOf((await ask(stack, owner.token, NOTIFICATIONS, { unreadOnly: false })).data?.notifications);
    expect(all.indexOf(newer)).toBeLessThan(all.indexOf(older));
    expect(all.indexOf(newer)).toBeGreaterThanOrEqual(0);
    const unread = idsOf((await ask(stack, owner.token, NOTIFICATIONS, { unreadOnly: true })).data?.notifications);
    expect(unread).toContain(newer);
    expect(unread).not.toContain(older);
    expect((await ask(stack, stranger.token, NOTIFICATIONS, { unreadOnly: false })).data?.notifications).toEqual([]);
  });

  it('marks one notification read, once: reading it again keeps the first read time', async () => {
    const id = await notifyOwner('Read me');
    const read = (await ask(stack, owner.token, MARK_READ, { id })).data?.markNotificationRead;
    expect(read).toMatchObject({ id, read: true });
    expect(read.readAt).toEqual(expect.any(String));
    expect((await ask(stack, owner.token, MARK_READ, { id })).data?.markNotificationRead).toEqual(read);
  });

  it("cannot mark another user's notification read", async () => {
    const id = await notifyOwner('Mine alone');
    expect((await ask(stack, stranger.token, MARK_READ, { id })).data?.markNotificationRead).toBeNull();
    const mine = (await ask(stack, owner.token, NOTIFICATIONS, { unreadOnly: true })).data?.notifications;
    expect(mine).toContainEqual({ id, title: 'Mine alone', read: false, readAt: null });
  });

  it("reads back the signed-in user's contact points, and only theirs", async () => {
    const contact = { email: owner.email, phone: '+4915112345678', pushToken: `device-${randomUUID()}` };
    await ask(stack, owner.token, SET_CONTACT_POINTS, { input: contact });

    expect((await ask(stack, owner.token, CONTACT_POINTS)).data?.contactPoints).toEqual(contact);
    expect((await ask(stack, stranger.token, CONTACT_POINTS)).data?.contactPoints).toBeNull();
  });
});
