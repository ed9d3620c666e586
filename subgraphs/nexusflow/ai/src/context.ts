import type { SubgraphContext } from '@nexusflow/kit';
import type { AiLoaders } from './loaders.ts';
import type { ModelServices } from './services.ts';

/** The models (completions, embeddings) and what keeps them in bounds; see services.ts. */
export type AiServices = ModelServices;

export type AiContext = SubgraphContext<AiLoaders, AiServices>;
