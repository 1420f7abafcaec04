import { configOf, createNodeApp } from './bootstrap';

/**
 * Starts an accounting node. A configuration or a dependency that cannot work stops the process with
 * one line that says what to do, not a stack trace.
 */
async function main(): Promise<void> {
  const app = await createNodeApp();
  const { host, port } = configOf(app).http;
  await app.listen(port, host);
  // Longer than the usual load balancer idle timeout (60 s), so that the balancer closes first and
  // never sends a request on a connection the node is closing.
  const server = app.getHttpServer() as import('node:http').Server;
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 66_000;
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cbsg node: ${message}\n`);
  process.exit(1);
});
