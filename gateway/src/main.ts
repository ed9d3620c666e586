import { runMain } from '@nexusflow/kit/core';
import { loadGatewayConfig } from './config.ts';
import { startGateway } from './gateway.ts';

await runMain(async () => startGateway(loadGatewayConfig(undefined, process.argv.slice(2))));
