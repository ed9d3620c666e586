import { UniqueConstraintViolationException } from '@mikro-orm/postgresql';
import DataLoader from 'dataloader';
import { badUserInput, groupByKeys, requireRole, requireUser, Role, type EntityManager, type Identity } from '@nexusflow/kit';
import { z } from 'zod';
import { PromptTemplate } from '../entities/prompt-template.entity.ts';
import { AI_TASKS, type AiTask } from './catalogue.ts';
import { DEFAULT_PROMPTS, type PromptDefinition } from './default-prompts.ts';

/** `{{name}}`, spaces inside the braces allowed. */
const PLACEHOLDER = /\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g;
const VARIABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TEMPLATE_NAME = /^[a-z0-9][a-z0-9-]{0,63}$/;
const MAX_TEXT = 20_000;
const MAX_VARIABLES = 20;
/** Admins saving the same name at once each get a version: one that lost the race to a number takes the next. */
const SAVE_ATTEMPTS = 8;

/** A template as the schema shows it: a built-in default (version 0) or a version a tenant saved. */
export interface PromptTemplateView extends PromptDefinition {
  version: number;
  builtIn: boolean;
  createdBy: string | null;
  createdAt: Date | null;
}

/** What a completion records of the template it was rendered from. */
export interface PromptProvenance {
  promptName: string;
  promptVersion: number;
}

export interface PromptReference {
  name: string;
  version?: number | null;
}

/** A template filled in: the messages to send, the task that picks the models, and what to record. */
export interface RenderedPrompt {
  messages: { role: 'SYSTEM' | 'USER'; content: string }[];
  task: AiTask;
  provenance: PromptProvenance;
}

const saveInputSchema = z.object({
  name: z.string().regex(TEMPLATE_NAME, 'must be 1 to 64 lower-case letters, digits and hyphens, starting with a letter or digit'),
  task: z.enum(AI_TASKS).nullish(),
  system: z.string().max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`),
  user: z.string().trim().min(1, 'must not be blank').max(MAX_TEXT, `must be at most ${MAX_TEXT} characters`),
  variables: z
    .array(z.string().regex(VARIABLE_NAME, 'must each be a letter or underscore followed by letters, digits and underscores'))
    .max(MAX_VARIABLES, `must be at most ${MAX_VARIABLES}`)
    .refine((names) => new Set(names).size === names.length, 'must not repeat a name'),
});

export function placeholdersOf(text: string): string[] {
  return [...new Set(Array.from(text.matchAll(PLACEHOLDER), (match) => match[1]!))];
}

/** A variable's value as the text a placeholder becomes: strings as they are, other values as JSON. */
function asText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  return JSON.stringify(value);
}

/**
 * Fills in the placeholders in one pass over the template's own text, so that a value is only ever text: a `{{x}}` inside
 * a value stays as it is. A declared variable that is missing (or null) is refused, naming every one missing.
 */
export function renderPrompt(template: PromptTemplateView, variables: Readonly<Record<string, unknown>>, field: string): RenderedPrompt {
  const missing = template.variables.filter((name) => variables[name] === undefined || variables[name] === null);
  if (missing.length > 0)
    throw badUserInput(
      `The prompt ${template.name} (version ${template.version}) needs the variable${missing.length > 1 ? 's' : ''} ${missing.join(', ')}`,
      { field },
    );
  const fill = (text: string) => text.replace(PLACEHOLDER, (_placeholder, name: string) => asText(variables[name]));
  const system = fill(template.system);
  return {
    messages: [...(system.trim() ? [{ role: 'SYSTEM' as const, content: system }] : []), { role: 'USER', content: fill(template.user) }],
    task: template.task,
    provenance: { promptName: template.name, promptVersion: template.version },
  };
}

const builtInView = (definition: PromptDefinition): PromptTemplateView => ({
  ...definition,
  version: 0,
  builtIn: true,
  createdBy: null,
  createdAt: null,
});

const savedView = (row: PromptTemplate): PromptTemplateView => ({
  name: row.name,
  version: row.version,
  task: row.task,
  system: row.system,
  user: row.user,
  variables: row.variables,
  builtIn: false,
  createdBy: row.createdBy,
  createdAt: row.createdAt,
});

const BUILT_IN: ReadonlyMap<string, PromptTemplateView> = new Map(
  DEFAULT_PROMPTS.map((definition) => [definition.name, builtInView(definition)]),
);

/** Every version of each name, newest first, the built-in default last: one query for the names of a whole list. */
export function promptVersionsLoader(em: EntityManager): DataLoader<string, PromptTemplateView[]> {
  return new DataLoader(async (names) => {
    const rows = await em.find(PromptTemplate, { name: { $in: [...names] } }, { orderBy: { version: 'desc' } });
    return groupByKeys(names, rows, (row) => row.name).map((versions, index) => {
      const builtIn = BUILT_IN.get(names[index]!);
      return [...versions.map(savedView), ...(builtIn ? [builtIn] : [])];
    });
  });
}

/**
 * Named, versioned prompt templates: the built-in default of each feature, and the versions each tenant saves (in the
 * request's unit of work, so a tenant reads and writes its own only). Saving never changes a version; it adds one.
 */
export class PromptTemplates {
  private readonly defaults = BUILT_IN;

  /** Each name's latest version, the tenant's or else the built-in default, by name. */
  async list(em: EntityManager, identity: Identity): Promise<PromptTemplateView[]> {
    requireUser(identity);
    // Names and numbers only, outside the identity map, so that no half-loaded row is handed out later in the request.
    const saved = await em.find(
      PromptTemplate,
      {},
      { fields: ['name', 'version'], orderBy: { name: 'asc', version: 'desc' }, disableIdentityMap: true },
    );
    const latest = new Map<string, number>();
    for (const row of saved) if (!latest.has(row.name)) latest.set(row.name, row.version);
    const rows = latest.size === 0 ? [] : await em.find(PromptTemplate, { $or: [...latest].map(([name, version]) => ({ name, version })) });
    const byName = new Map<string, PromptTemplateView>(this.defaults);
    for (const row of rows) byName.set(row.name, savedView(row));
    return [...byName.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The version asked for; without one, the tenant's latest, or the built-in default when it saved none. */
  async find(em: EntityManager, reference: PromptReference, field: string): Promise<PromptTemplateView> {
    const { name, version } = reference;
    const builtIn = this.defaults.get(name);
    if (version === 0 && builtIn) return builtIn;
    const row =
      version == null
        ? await em.findOne(PromptTemplate, { name }, { orderBy: { version: 'desc' } })
        : await em.findOne(PromptTemplate, { name, version });
    if (row) return savedView(row);
    if (version == null && builtIn) return builtIn;
    throw badUserInput(
      version == null ? `There is no prompt template named ${name}` : `The prompt template ${name} has no version ${version}`,
      { field: `${field}.${version == null ? 'name' : 'version'}` },
    );
  }

  /** The template found and filled in; `fields` name the arguments that errors point at. */
  async render(
    em: EntityManager,
    reference: PromptReference,
    variables: Readonly<Record<string, unknown>>,
    fields: { prompt: string; variables: string },
  ): Promise<RenderedPrompt> {
    return renderPrompt(await this.find(em, reference, fields.prompt), variables, fields.variables);
  }

  /** A new version of the name for the caller's tenant, by its OWNER or an ADMIN. */
  async save(em: EntityManager, identity: Identity, input: unknown): Promise<PromptTemplateView> {
    const user = requireRole(identity, [Role.Owner, Role.Admin]);
    const parsed = saveInputSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const field = ['input', ...issue.path.filter((part) => typeof part !== 'number')].join('.');
      throw badUserInput(`"${field}" ${issue.message}`, { field });
    }
    const { name, system, user: userText, variables } = parsed.data;
    const builtIn = this.defaults.get(name);
    this.checkVariables(system, userText, variables, builtIn);
    const task = parsed.data.task ?? builtIn?.task ?? 'CHAT';
    for (let attempt = 1; ; attempt += 1) {
      const latest = await em.findOne(
        PromptTemplate,
        { name },
        {
          orderBy: { version: 'desc' },
          fields: ['version'],
          disableIdentityMap: true,
        },
      );
      const row = em.create(PromptTemplate, {
        tenantId: user.tenantId,
        name,
        version: (latest?.version ?? 0) + 1,
        task,
        system,
        user: userText,
        variables,
        createdBy: user.userId,
      });
      try {
        await em.flush();
        return savedView(row);
      } catch (error) {
        em.clear();
        if (!(error instanceof UniqueConstraintViolationException) || attempt === SAVE_ATTEMPTS) throw error;
      }
    }
  }

  /** Every placeholder declared, every declared variable used; a feature's name keeps to the variables it supplies. */
  private checkVariables(system: string, user: string, declared: readonly string[], builtIn: PromptTemplateView | undefined): void {
    const used = placeholdersOf(`${system}\n${user}`);
    const undeclared = used.filter((name) => !declared.includes(name));
    if (undeclared.length > 0)
      throw badUserInput(`"input.variables" must declare ${undeclared.join(', ')}, named by placeholders`, { field: 'input.variables' });
    const unused = declared.filter((name) => !used.includes(name));
    if (unused.length > 0)
      throw badUserInput(`"input.variables" declares ${unused.join(', ')}, which no placeholder uses`, { field: 'input.variables' });
    const unsupplied = builtIn ? declared.filter((name) => !builtIn.variables.includes(name)) : [];
    if (unsupplied.length > 0)
      throw badUserInput(
        `"input.variables" ${unsupplied.join(', ')}: the ${builtIn!.name} feature supplies only ${builtIn!.variables.join(', ')}`,
        { field: 'input.variables' },
      );
  }
}
