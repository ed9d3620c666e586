import { describe, expect, it } from 'vitest';
import { eventPatternProblem, triggerProblems } from './trigger-rules.ts';

describe('trigger rules', () => {
  it('takes event patterns that name their source, with wildcards after it', () => {
    for (const pattern of ['integration.data.received', 'integration.#', 'crm.*.created', 'billing.invoice-paid']) {
      expect(eventPatternProblem(pattern), pattern).toBeUndefined();
    }
  });

  it("refuses patterns that could reach the workflow engine's own events, and malformed ones", () => {
    expect(eventPatternProblem('workflow.execution.failed')).toMatch(/workflow engine's own events/);
    expect(eventPatternProblem('workflow.#')).toMatch(/workflow engine's own events/);
    expect(eventPatternProblem('#')).toMatch(/not with a wildcard/);
    expect(eventPatternProblem('*.execution.failed')).toMatch(/not with a wildcard/);
    expect(eventPatternProblem('crm..created')).toMatch(/words of letters/);
    expect(eventPatternProblem('crm.cre*ted')).toMatch(/words of letters/);
  });

  it('checks filters when the workflow is saved, and only EVENT triggers may have them', () => {
    expect(triggerProblems([{ type: 'EVENT', eventType: 'crm.contact.created', filter: 'payload.score > 50' }])).toEqual([]);
    expect(triggerProblems([{ type: 'EVENT', eventType: 'crm.contact.created', filter: '$match(name, /(a)\\1/)' }])).toEqual([
      {
        field: 'triggers.0.filter',
        problem: expect.stringMatching(
          /^trigger 1 \(EVENT crm\.contact\.created\): the filter is not a valid JSONata expression: regular expression/,
        ),
      },
    ]);
    expect(triggerProblems([{ type: 'MANUAL', filter: 'true' }])).toEqual([
      { field: 'triggers.0.filter', problem: 'trigger 1 (MANUAL): only EVENT triggers have a filter' },
    ]);
  });

  it('allows one webhook per workflow', () => {
    expect(triggerProblems([{ type: 'WEBHOOK' }, { type: 'MANUAL' }, { type: 'WEBHOOK' }])).toEqual([
      { field: 'triggers.2.type', problem: 'trigger 3 (WEBHOOK): a workflow has one webhook' },
    ]);
  });
});
