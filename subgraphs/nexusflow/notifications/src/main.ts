import { runMain } from '@nexusflow/kit';
import { start } from './start.ts';

await runMain(() => start());
