import { AsyncLocalStorage } from 'node:async_hooks';
import type { IncomingMessage } from 'node:http';
import type { ApolloServerPlugin } from '@apollo/server';
import { HttpError, type Logger, type RouteHandler } from '@nexusflow/kit/core';
import { trace } from '@opentelemetry/api';
import type { GatewayConfig } from '../config.ts';
import type { GatewayContext } from '../context.ts';
import { CLIENT_NAME_HEADER, CLIENT_VERSION_HEADER } from './tracing.ts';

/** What the GraphQL layer learns about a request, for its access-log line. */
interface AccessRecord {
  operationName?: string | undefined;
  operationType?: string | undefined;
  tenantId?: string | undefined;
  errorCodes?: string[] | undefined;
}

export interface AccessLog {
  /** Logs one line for each request the route is given, once its response is sent (or its connection lost). Off: the route itself. */
  around(route: RouteHandler): RouteHandler;
  /** Tells the request's line its operation, tenant and error codes. None when off. */
  plugins: ApolloServerPlugin<GatewayContext>[];
}

const records = new AsyncLocalStorage<AccessRecord>();

/** A 32-hex-digit trace id from a W3C `traceparent` (`00-<trace id>-<span id>-<flags>`), for a request traced upstream only. */
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return typeof value === 'string' ? value : undefined;
}

/** The trace the request is part of: the gateway's own span when it traces, else the caller's `traceparent`, if any. */
function traceIdOf(req: IncomingMessage): string | undefined {
  const active = trace.getActiveSpan()?.spanContext().traceId;
  if (active) return active;
  const traceparent = header(req, 'traceparent');
  return traceparent === undefined ? undefined : TRACEPARENT.exec(traceparent)?.[1];
}

/** A GraphQL error's code, as the kit's error formatting guarantees one; an error without is an internal one. */
const codeOf = (code: unknown): string => (typeof code === 'string' ? code : 'INTERNAL_SERVER_ERROR');

/**
 * One structured line per gateway request, as Apollo Router's and Cosmo's access logs have it: method, path, operation,
 * client (the `apollographql-client-name`/`-version` headers), tenant, status, duration, error codes, request id and
 * trace id, through the gateway's logger.
 */
export function accessLog(config: Pick<GatewayConfig, 'accessLog'>, logger: Logger): AccessLog {
  if (!config.accessLog) return { around: (route) => route, plugins: [] };
  return {
    around: (route) => (req, res, url) => {
      const started = performance.now();
      const record: AccessRecord = {};
      const traceId = traceIdOf(req);
      res.once('close', () => {
        const requestId = res.getHeader('x-request-id');
        logger.info(
          {
            method: req.method,
            path: url.pathname,
            operationName: record.operationName,
            operationType: record.operationType,
            clientName: header(req, CLIENT_NAME_HEADER),
            clientVersion: header(req, CLIENT_VERSION_HEADER),
            tenantId: record.tenantId,
            status: res.statusCode,
            durationMs: Math.round((performance.now() - started) * 10) / 10,
            errorCodes: record.errorCodes,
            requestId: typeof requestId === 'string' ? requestId : undefined,
            traceId,
            ...(res.writableFinished ? {} : { aborted: true }),
          },
          'access',
        );
      });
      return records.run(record, async () => {
        try {
          return await route(req, res, url);
        } catch (error) {
          // Refused before GraphQL (authentication, rate limits, body size): the server answers it with this code.
          if (error instanceof HttpError) record.errorCodes = [error.code];
          throw error;
        }
      });
    },
    plugins: [
      {
        async requestDidStart({ request, contextValue }) {
          const record = records.getStore();
          if (!record) return;
          record.operationName = request.operationName ?? undefined;
          if (contextValue.identity.kind === 'user') record.tenantId = contextValue.identity.tenantId;
          return {
            async didResolveOperation({ operationName, operation }) {
              record.operationName = operationName ?? undefined;
              record.operationType = operation?.operation;
            },
            async willSendResponse({ response, errors }) {
              const body = response.body.kind === 'single' ? response.body.singleResult : response.body.initialResult;
              const reported = body.errors ?? errors ?? [];
              if (reported.length > 0) record.errorCodes = [...new Set(reported.map((error) => codeOf(error.extensions?.code)))];
            },
          };
        },
      },
    ],
  };
}
