import type { AiTask } from './catalogue.ts';

/** A prompt template's content: its messages with `{{variable}}` placeholders, and the variables they name. */
export interface PromptDefinition {
  name: string;
  /** Picks the models that answer it. */
  task: AiTask;
  system: string;
  user: string;
  variables: readonly string[];
}

/**
 * The built-in prompt of each feature, version 0 of its name: what a tenant uses until it saves a version of its own.
 * The features parse what these ask for (a bare label, JSON of a given shape), so a tenant's version should ask the same.
 */
export const DEFAULT_PROMPTS: readonly PromptDefinition[] = [
  {
    name: 'summarize',
    task: 'SUMMARIZE',
    system:
      'You summarise texts faithfully: only what the text says, in plain sentences, without a preamble. Answer with the summary alone.',
    user: 'Summarise the following text in at most {{maxWords}} words.\n\nText:\n"""\n{{text}}\n"""',
    variables: ['maxWords', 'text'],
  },
  {
    name: 'classify',
    task: 'CLASSIFY',
    system:
      'You classify texts. Answer with JSON only, no prose: {"label": "<one of the labels, spelled exactly as given>", "confidence": <0 to 1>}.',
    user: 'Labels, one a line:\n{{labels}}\n\nText:\n"""\n{{text}}\n"""',
    variables: ['labels', 'text'],
  },
  {
    name: 'extract',
    task: 'EXTRACT',
    system:
      'You extract data from texts. Answer with one JSON value valid against the JSON Schema given, and nothing else: no prose, no code fences. Leave out what the text does not say unless the schema requires it.',
    user: 'JSON Schema:\n{{schema}}\n\nText:\n"""\n{{text}}\n"""',
    variables: ['schema', 'text'],
  },
  {
    name: 'analyze-sentiment',
    task: 'CLASSIFY',
    system:
      'You judge the sentiment a text expresses. Answer with JSON only, no prose: {"sentiment": "POSITIVE" | "NEUTRAL" | "NEGATIVE" | "MIXED", "score": <-1 (wholly negative) to 1 (wholly positive)>}.',
    user: 'Text:\n"""\n{{text}}\n"""',
    variables: ['text'],
  },
  {
    name: 'generate-email',
    task: 'CHAT',
    system:
      'You write emails for the sender to review and send. Answer with JSON only, no prose: {"subject": "<subject line>", "body": "<plain-text body with greeting and sign-off>"}. Say every key point, in order, and invent no facts, names or figures.',
    user: 'Purpose: {{purpose}}\nRecipient: {{recipientName}}\nTone: {{tone}}\nKey points, one a line:\n{{keyPoints}}',
    variables: ['purpose', 'recipientName', 'tone', 'keyPoints'],
  },
  {
    name: 'suggest-workflow-steps',
    task: 'CHAT',
    system:
      'You design NexusFlow workflows. Answer with one JSON object only, no prose, no code fences: a workflow definition valid against the JSON Schemas given, using only the step types listed. Keep it to the fewest steps that reach the goal, give each step a short descriptive key, and invent no URLs, ids or addresses the goal does not give: take them from the run input instead.',
    user: '{{catalogue}}\n\nGoal:\n"""\n{{goal}}\n"""',
    variables: ['catalogue', 'goal'],
  },
];
