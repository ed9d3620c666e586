import {
  badUserInput,
  callSubgraph,
  clientError,
  ErrorCode,
  requireRole,
  SubgraphRequestError,
  WRITER_ROLES,
  type EntityManager,
  type Identity,
  type TypedDocumentNode,
} from '@nexusflow/kit';
import {
  ValidateWorkflowDefinitionDocument,
  WorkflowDefinitionGuideDocument,
  type WorkflowDefinitionGuideQuery,
} from '../__generated__/workflows-operations.ts';
import type { AiModels, CompletionView } from './ai-models.ts';
import { jsonIn } from './features.ts';
import type { PromptTemplates } from './prompts.ts';

/** The built-in prompt in default-prompts.ts, or the tenant's own version of it. */
export const SUGGEST_PROMPT = 'suggest-workflow-steps';

const MAX_GOAL_LENGTH = 2000;
/** Room for a definition of a dozen steps; the prompt and the repairs stay well within the tokens a request may count. */
const MAX_ANSWER_TOKENS = 2048;
const DEFAULT_MAX_REPAIRS = 2;

export interface SuggestionProblem {
  field: string;
  problem: string;
}

export type SuggestWorkflowStepsResult =
  | {
      __typename: 'WorkflowSuggestion';
      name: string;
      description: string | null;
      definition: unknown;
      completion: CompletionView;
      attempts: number;
    }
  | { __typename: 'NoValidSuggestion'; message: string; attempts: number; problems: SuggestionProblem[] };

type ChatMessage = { role: 'SYSTEM' | 'USER' | 'ASSISTANT'; content: string };

export interface WorkflowSuggestionsOptions {
  models: Pick<AiModels, 'complete' | 'requireProvider'>;
  prompts: Pick<PromptTemplates, 'render'>;
  /** The workflows subgraph's GraphQL endpoint. */
  workflowsUrl: string;
  /** Signs the caller's identity on the calls to the workflows subgraph. */
  internalSecret: string;
  /** Drafts after the first that the model is asked for when one is refused. */
  maxRepairs?: number;
}

/**
 * Drafts a workflow definition from a goal in words and has the workflows subgraph check it with the rules
 * createWorkflow applies; a refused draft goes back to the model with the problems, up to `maxRepairs` times. What
 * is returned is either a definition createWorkflow accepts or the reasons there is none: never an invalid one.
 */
export class WorkflowSuggestions {
  private readonly maxRepairs: number;

  constructor(private readonly options: WorkflowSuggestionsOptions) {
    this.maxRepairs = options.maxRepairs ?? DEFAULT_MAX_REPAIRS;
  }

  async suggest(em: EntityManager, identity: Identity, goal: string): Promise<SuggestWorkflowStepsResult> {
    requireRole(identity, WRITER_ROLES);
    this.options.models.requireProvider();
    const trimmed = goal.trim();
    if (trimmed === '') throw badUserInput('goal must not be blank', { field: 'goal' });
    if (trimmed.length > MAX_GOAL_LENGTH) throw badUserInput(`goal must have at most ${MAX_GOAL_LENGTH} characters`, { field: 'goal' });

    const guide = await this.call(identity, WorkflowDefinitionGuideDocument, {});
    const prompt = await this.options.prompts.render(
      em,
      { name: SUGGEST_PROMPT },
      { goal: trimmed, catalogue: catalogueText(guide.workflowDefinitionGuide) },
      { prompt: 'goal', variables: 'goal' },
    );
    const messages: ChatMessage[] = [...prompt.messages];
    let problems: SuggestionProblem[] = [];
    for (let attempt = 1; attempt <= 1 + this.maxRepairs; attempt += 1) {
      const completion = await this.options.models.complete(
        identity,
        { messages, task: prompt.task, maxTokens: MAX_ANSWER_TOKENS, temperature: 0 },
        undefined,
        prompt.provenance,
      );
      const draft = parseDraft(completion.text);
      if (draft.ok) {
        const { validateWorkflowDefinition: verdict } = await this.call(identity, ValidateWorkflowDefinitionDocument, {
          definition: draft.value,
        });
        if (verdict.valid && isDefinition(verdict.definition)) {
          return {
            __typename: 'WorkflowSuggestion',
            name: verdict.definition.name,
            description: verdict.definition.description ?? null,
            definition: verdict.definition,
            completion,
            attempts: attempt,
          };
        }
        problems = verdict.problems.map(({ field, problem }) => ({ field, problem }));
      } else {
        problems = [{ field: '', problem: draft.problem }];
      }
      messages.push({ role: 'ASSISTANT', content: completion.text }, { role: 'USER', content: repairRequest(problems) });
    }
    return {
      __typename: 'NoValidSuggestion',
      message: `The model wrote no workflow definition the workflows service accepts, in ${1 + this.maxRepairs} attempts`,
      attempts: 1 + this.maxRepairs,
      problems,
    };
  }

  private async call<TResult, TVariables>(
    identity: Identity,
    query: TypedDocumentNode<TResult, TVariables>,
    variables: TVariables,
  ): Promise<TResult> {
    try {
      return await callSubgraph({
        url: this.options.workflowsUrl,
        internalSecret: this.options.internalSecret,
        identity,
        query,
        variables,
      });
    } catch (error) {
      // Only a passing failure is the client's to retry; anything else is this service's fault, and stays internal.
      if (error instanceof SubgraphRequestError && error.retryable)
        throw clientError(ErrorCode.ServiceUnavailable, 'The workflows service cannot check suggestions right now; try again');
      throw error;
    }
  }
}

/**
 * What the model is told a definition may hold: the workflows subgraph's own schemas, so that a new step type or
 * option reaches the prompt without a change here.
 */
export function catalogueText(guide: WorkflowDefinitionGuideQuery['workflowDefinitionGuide']): string {
  const stepTypes = guide.stepTypes.map(
    (stepType) => `- ${stepType.type}: ${stepType.description}\n  config: ${JSON.stringify(stepType.configSchema)}`,
  );
  return [
    `A workflow definition, as JSON Schema:\n${JSON.stringify(guide.definitionSchema)}`,
    `Step types, each with what it does and the JSON Schema of its config:\n${stepTypes.join('\n')}`,
    'Steps run in order. Strings in a config may hold placeholders: {{input.<field>}} is a field of the input the run was ' +
      'started with, {{steps.<key>.output.<field>}} a field of an earlier step’s output; a string that is only a placeholder ' +
      'becomes the value itself. A condition’s then and else name a later step’s key, or null to end the run.',
  ].join('\n\n');
}

type Draft = { ok: true; value: unknown } | { ok: false; problem: string };

/** Models wrap JSON in prose or code fences now and then despite being asked not to. */
export function parseDraft(text: string): Draft {
  const json = jsonIn(text);
  if (!json) return { ok: false, problem: 'the answer is not JSON' };
  if (typeof json.value !== 'object' || json.value === null || Array.isArray(json.value))
    return { ok: false, problem: 'the answer is not a JSON object' };
  return { ok: true, value: json.value };
}

function repairRequest(problems: SuggestionProblem[]): string {
  const list = problems.map(({ field, problem }) => `- ${field === '' ? '' : `${field}: `}${problem}`).join('\n');
  return `The workflows service refused that definition:\n${list}\nAnswer with the whole corrected definition, as one JSON object only.`;
}

function isDefinition(value: unknown): value is { name: string; description?: string | null } {
  return typeof value === 'object' && value !== null && typeof (value as { name?: unknown }).name === 'string';
}
