import { randomUUID } from 'node:crypto';
import { postGraphQL } from '@nexusflow/kit/testing';
import { RegisterDocument } from '@nexusflow/web-client';

export const TEST_PASSWORD = 'correct horse battery';

export interface SignedUp {
  email: string;
  token: string;
  userId: string;
}

/** A new tenant and its owner, registered through the gateway as the web client does; `label` names them in the data. */
export async function signUp(graphqlUrl: string, label: string): Promise<SignedUp> {
  const email = `${label}-${randomUUID()}@example.com`;
  const registered = (
    await postGraphQL(graphqlUrl, RegisterDocument, {
      variables: { input: { email, password: TEST_PASSWORD, name: `${label} owner`, tenantName: `${label} tenant` } },
    })
  ).data?.register;
  if (registered?.__typename !== 'AuthSession') throw new Error(`registration failed: ${JSON.stringify(registered)}`);
  return { email, token: registered.accessToken, userId: registered.user.id };
}
