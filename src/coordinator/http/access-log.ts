import { type FastifyReply, type FastifyRequest, LogController } from 'fastify';
import type { Logger } from 'pino';

declare module 'fastify' {
  interface FastifyRequest {
    /** The problem code of a refused request, for its access-log line (set by the error handler). */
    problemCode?: string;
  }
}

/**
 * Fastify's per-request log lines, made cheap for the hot path. Fastify's default writes two JSON
 * lines per request at `info` ("incoming request", "request completed"), which cost the API process
 * more CPU than Fastify's own routing. Here:
 *  - a request that failed (status ≥ 400: refused signatures, unknown sessions, rate limits,
 *    idempotency conflicts, validation) or errored is always logged at `info` (`error` when it
 *    errored), in one line with its method, URL, peer address, status, problem code and time;
 *  - a successful request is logged at `debug` only: `log.level: debug` turns the full access log
 *    back on (both lines, as Fastify writes them).
 * Nothing else changes: other log calls, levels and the redaction of the logger are the caller's.
 */
export class AccessLog extends LogController {
  /** `root`: the app's logger (request loggers are its children, at its level). */
  constructor(private readonly root: Logger) {
    super();
  }

  override incomingRequest(request: FastifyRequest, reply: FastifyReply): void {
    if (this.root.isLevelEnabled('debug')) request.log.debug({ req: request }, 'incoming request');
    void reply;
  }

  override requestCompleted(
    error: Error | null | undefined,
    request: FastifyRequest,
    reply: FastifyReply,
  ): void {
    if (error) {
      reply.log.error(
        { req: request, res: reply, err: error, responseTime: reply.elapsedTime },
        'request errored',
      );
      return;
    }
    if (reply.statusCode >= 400) {
      reply.log.info(
        {
          req: request,
          res: reply,
          ...(request.problemCode ? { code: request.problemCode } : {}),
          responseTime: reply.elapsedTime,
        },
        'request completed',
      );
    } else if (this.root.isLevelEnabled('debug')) {
      reply.log.debug({ res: reply, responseTime: reply.elapsedTime }, 'request completed');
    }
  }
}
