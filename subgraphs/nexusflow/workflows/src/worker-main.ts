import { runWorker } from '@nexusflow/kit';
import { subgraph } from './subgraph.ts';

await runWorker(subgraph);
