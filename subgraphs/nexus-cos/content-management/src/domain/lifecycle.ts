import { hasRole, Role, type Identity } from '@nexusflow/kit';

export type ContentStatus = 'DRAFT' | 'IN_REVIEW' | 'APPROVED' | 'PUBLISHED' | 'ARCHIVED';

/** The lifecycle as a state machine: from each status, the statuses it may go to. ARCHIVED is final. */
export const TRANSITIONS: Readonly<Record<ContentStatus, readonly ContentStatus[]>> = {
  DRAFT: ['IN_REVIEW', 'ARCHIVED'],
  IN_REVIEW: ['APPROVED', 'DRAFT'],
  APPROVED: ['PUBLISHED', 'ARCHIVED'],
  PUBLISHED: ['ARCHIVED'],
  ARCHIVED: [],
};

/** Statuses whose metadata can be edited: once submitted, reviewers judge a version that no longer moves. */
export const EDITABLE_STATUS: ContentStatus = 'DRAFT';

export interface InvalidContentTransition {
  __typename: 'InvalidContentTransition';
  from: ContentStatus;
  to: ContentStatus;
  allowed: ContentStatus[];
  message: string;
}

/** Null when `from → to` is a transition of the lifecycle; otherwise the typed refusal clients get. */
export function refusedTransition(from: ContentStatus, to: ContentStatus): InvalidContentTransition | null {
  const allowed = TRANSITIONS[from];
  if (allowed.includes(to)) return null;
  return {
    __typename: 'InvalidContentTransition',
    from,
    to,
    allowed: [...allowed],
    message: allowed.length === 0 ? `A ${from} content cannot change any more` : `A ${from} content can only go to ${allowed.join(' or ')}`,
  };
}

/** An edit is refused outside DRAFT as the transition the content would need first. */
export function refusedEdit(from: ContentStatus): InvalidContentTransition | null {
  if (from === EDITABLE_STATUS) return null;
  return {
    __typename: 'InvalidContentTransition',
    from,
    to: EDITABLE_STATUS,
    allowed: [...TRANSITIONS[from]],
    message: `Only a ${EDITABLE_STATUS} content can be edited; this one is ${from}`,
  };
}

/** Reviewers: who approves, rejects, publishes, archives and grants rights. */
export const REVIEWER_ROLES = [Role.Owner, Role.Admin] as const;

export const isReviewer = (identity: Identity): boolean => hasRole(identity, ...REVIEWER_ROLES);
