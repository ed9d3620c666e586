import { runSubgraph } from '@nexusflow/kit';
import { subgraph } from './subgraph.ts';

await runSubgraph(subgraph);
