import { configOf, createNodeApp } from './bootstrap';

/**
 * Starts an accounting node. A configuration or a dependency that cannot work stops the process with
 * one line that says what to do, not a stack trace.
 */
async function main(): Promise<void> {
  const app = await createNodeApp();
  const { host, port } = configOf(app).http;
  await app.listen(port, host);
}

main().catch((error: unknown) => {
  const message = error instanceof Error ? error.message : String(error);
  process.stderr.write(`cbsg node: ${message}\n`);
  process.exit(1);
});
