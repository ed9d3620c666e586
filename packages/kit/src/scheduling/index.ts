/**
 * The scheduling engine services share (NexusFlow's and Nexus COS's schedulers): due occurrences of a recurrence
 * (see the platform's `recurrence.ts`) planned under a misfire policy, due rows claimed once across instances under
 * row locks, passes on a timer, and exponential backoff between attempts.
 */
export * from './backoff.ts';
export * from './claim.ts';
export * from './due-work.ts';
export * from './occurrences.ts';
