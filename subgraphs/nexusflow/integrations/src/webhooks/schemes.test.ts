import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { hubSpotSignedUri, sameSecret, verificationOf, verifyHubSpot, verifySlack, type InboundRequest } from './schemes.ts';

const NOW = Date.UTC(2026, 0, 1);

describe('webhook verification schemes', () => {
  it('verifies each provider by its own scheme: Slack and HubSpot by signature, Graph by clientState, the others by a shared secret', () => {
    expect(
      ['SLACK', 'HUBSPOT', 'OUTLOOK', 'MICROSOFT_TEAMS', 'ZAPIER', 'MAKE', 'PIPEDRIVE'].map((name) => verificationOf(name as never)),
    ).toEqual([
      'SLACK_SIGNATURE',
      'HUBSPOT_SIGNATURE_V3',
      'MICROSOFT_GRAPH_CLIENT_STATE',
      'MICROSOFT_GRAPH_CLIENT_STATE',
      'SHARED_SECRET',
      'SHARED_SECRET',
      'SHARED_SECRET',
    ]);
  });

  it('signs the URI HubSpot called with the escapes its documentation lists decoded, and no others', () => {
    expect(
      hubSpotSignedUri(new URL('https://hooks.example.com/webhooks/integrations/1?a=%3A%2F%3F%40%21%24%27%28%29%2A%2C%3B&b=%20')),
    ).toBe("https://hooks.example.com/webhooks/integrations/1?a=:/?@!$'()*,;&b=%20");
  });

  it('compares secrets in constant time whatever their lengths', () => {
    expect(sameSecret('whsec_abc', 'whsec_abc')).toBe(true);
    expect(sameSecret('whsec_abc', 'whsec_ab')).toBe(false);
    expect(sameSecret('whsec_abc', '')).toBe(false);
  });

  it('takes a Slack timestamp as seconds and a HubSpot one as milliseconds, refusing either once five minutes old', () => {
    const body = Buffer.from(JSON.stringify({ type: 'event_callback', event_id: 'Ev1', event: { type: 'message' } }));
    const slack = (seconds: number): InboundRequest => ({
      method: 'POST',
      url: new URL('http://localhost/webhooks/integrations/1'),
      body,
      headers: {
        'x-slack-request-timestamp': String(seconds),
        'x-slack-signature': `v0=${createHmac('sha256', 's').update(`v0:${seconds}:${body.toString()}`).digest('hex')}`,
      },
    });
    expect(verifySlack(slack(NOW / 1000 - 300), 's', NOW, 300)).toMatchObject({ kind: 'events', events: [{ deliveryId: 'Ev1' }] });
    expect(() => verifySlack(slack(NOW / 1000 - 301), 's', NOW, 300)).toThrow('more than 300 s away');

    const hubspot = (milliseconds: number): InboundRequest => {
      const url = new URL('http://localhost/webhooks/integrations/1');
      const signature = createHmac('sha256', 'c').update(`POST${url.toString()}[]${milliseconds}`).digest('base64');
      return {
        method: 'POST',
        url,
        body: Buffer.from('[]'),
        headers: { 'x-hubspot-request-timestamp': String(milliseconds), 'x-hubspot-signature-v3': signature },
      };
    };
    expect(verifyHubSpot(hubspot(NOW - 300_000), 'c', NOW, 300)).toEqual({ kind: 'events', events: [] });
    expect(() => verifyHubSpot(hubspot(NOW - 300_001), 'c', NOW, 300)).toThrow('more than 300 s away');
  });
});
