import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { ApolloGateway } from '@apollo/gateway';
import { ApolloServer } from '@apollo/server';
import { startStandaloneServer } from '@apollo/server/standalone';
import { asStockServes } from '../../gateway/src/execution/supergraph.ts';

/** Unmodified @apollo/gateway behind @apollo/server, as its documentation sets it up: the baseline. */
const { values } = parseArgs({ options: { supergraph: { type: 'string' }, port: { type: 'string', default: '0' } } });
if (!values.supergraph) throw new Error('--supergraph <file> is required');
// Stock refuses the authorization directives' `for: SECURITY` features; it is given them as features it may ignore.
const supergraphSdl = asStockServes(await readFile(values.supergraph, 'utf8'));
const server = new ApolloServer({ gateway: new ApolloGateway({ supergraphSdl }) });
const { url } = await startStandaloneServer(server, { listen: { host: '127.0.0.1', port: Number(values.port) } });
process.stdout.write(`${JSON.stringify({ ready: url })}\n`);
process.once('SIGTERM', () => void server.stop().then(() => process.exit(0)));
