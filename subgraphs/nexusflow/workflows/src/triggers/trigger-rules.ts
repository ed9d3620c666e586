import { compileExpression, describeExpressionProblem, type Expression } from '@nexusflow/kit';
import type { DefinitionProblem, TriggerDefinition } from '../domain/definition.ts';

/**
 * The first word of the routing keys the workflow engine publishes itself (`workflow.execution.started`, …). A trigger
 * listening to them would start a run on every run it starts, for ever, so no pattern may reach them (see
 * {@link eventPatternProblem}), and the event consumer drops them before looking for triggers.
 */
export const ENGINE_EVENT_SOURCE = 'workflow';

const PATTERN_WORD = /^(\*|#|[A-Za-z0-9_-]+)$/;

/**
 * What is wrong with an EVENT trigger's pattern (AMQP topic syntax: `*` one word, `#` any number), if anything. Its first
 * word must name the events' source literally: a wildcard there could match the engine's own events.
 */
export function eventPatternProblem(pattern: string): string | undefined {
  const words = pattern.split('.');
  if (!words.every((word) => PATTERN_WORD.test(word))) {
    return 'must be words of letters, digits, "-" and "_", or the wildcards "*" and "#", separated by dots';
  }
  const [source] = words;
  if (source === '*' || source === '#') return `must start with the events' source, e.g. "integration.#", not with a wildcard`;
  if (source === ENGINE_EVENT_SOURCE) {
    return `may not listen to the workflow engine's own events (${ENGINE_EVENT_SOURCE}.…): each run would start another`;
  }
  return undefined;
}

/** A trigger as people know it in a message: its position (from 1) and what it listens to. */
function describeTrigger(trigger: Pick<TriggerDefinition, 'type' | 'eventType'>, index: number): string {
  return `trigger ${index + 1} (${trigger.type}${trigger.eventType ? ` ${trigger.eventType}` : ''})`;
}

/** The problems of a definition's triggers: patterns, filters (compiled here, at save time), one webhook at most. */
export function triggerProblems(triggers: readonly Pick<TriggerDefinition, 'type' | 'eventType' | 'filter'>[]): DefinitionProblem[] {
  const problems: DefinitionProblem[] = [];
  triggers.forEach((trigger, index) => {
    const problem = (field: string, text: string) =>
      problems.push({ field: `triggers.${index}.${field}`, problem: `${describeTrigger(trigger, index)}: ${text}` });
    if (trigger.type !== 'EVENT') {
      if (trigger.eventType) problem('eventType', 'only EVENT triggers have an event type');
      if (trigger.filter) problem('filter', 'only EVENT triggers have a filter');
      return;
    }
    if (!trigger.eventType) {
      problem('eventType', 'an EVENT trigger needs the event type it listens to, e.g. "integration.data.received"');
      return;
    }
    const patternProblem = eventPatternProblem(trigger.eventType);
    if (patternProblem) problem('eventType', patternProblem);
    if (trigger.filter) {
      const compiled = compileExpression(trigger.filter);
      if (!compiled.ok) problem('filter', `the filter is not a valid JSONata expression: ${describeExpressionProblem(compiled.problem)}`);
    }
  });
  const webhooks = triggers.flatMap((trigger, index) => (trigger.type === 'WEBHOOK' ? [index] : []));
  for (const index of webhooks.slice(1)) {
    problems.push({ field: `triggers.${index}.type`, problem: `${describeTrigger(triggers[index]!, index)}: a workflow has one webhook` });
  }
  return problems;
}

/** Filters compiled once per text: every event is tested against the triggers of its tenant's workflows. */
const compiledFilters = new Map<string, Expression>();
const COMPILED_FILTERS_KEPT = 1000;

/** A saved filter, compiled (it was valid when saved; one that no longer compiles holds for no event). */
export function compiledFilter(source: string): Expression | undefined {
  const cached = compiledFilters.get(source);
  if (cached) return cached;
  const compiled = compileExpression(source);
  if (!compiled.ok) return undefined;
  if (compiledFilters.size >= COMPILED_FILTERS_KEPT) compiledFilters.delete(compiledFilters.keys().next().value!);
  compiledFilters.set(source, compiled.expression);
  return compiled.expression;
}
