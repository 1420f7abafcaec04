// npm run deps:check: the layering rules of STYLE.md 2.1 and 2.3, enforced.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'pure-code-stays-pure',
      comment:
        'Crypto, ledger core and domain folders are plain TypeScript: no Nest, Prisma or BullMQ (STYLE.md 2.1).',
      severity: 'error',
      from: { path: '^libs/(crypto/src|ledger/src/core|[^/]+/src/domain)/' },
      to: { path: 'node_modules/(@nestjs|@prisma|bullmq|ioredis)/' },
    },
    {
      name: 'libraries-through-their-index',
      comment: 'Another library is imported as @app/<lib> (its index), never by a deep path (STYLE.md 2.3).',
      severity: 'error',
      from: { path: '^(libs|apps)/([^/]+)/' },
      to: { path: '^libs/([^/]+)/src/.+', pathNot: ['^libs/$2/', '^libs/[^/]+/src/index\\.ts$'] },
    },
    {
      name: 'libraries-do-not-import-apps',
      severity: 'error',
      from: { path: '^libs/' },
      to: { path: '^apps/' },
    },
    {
      name: 'console-is-browser-code',
      comment:
        'The admin console runs in the browser: its own files, its npm packages and the types of the API it reads, nothing of the server.',
      severity: 'error',
      from: { path: '^apps/console/' },
      to: {
        path: '^(apps|libs)/',
        pathNot: ['^apps/console/', '^apps/node/src/console/console\\.types\\.ts$'],
      },
    },
    {
      name: 'console-api-types-stand-alone',
      comment: 'The console compiles the API types file as it is, for the browser: it imports nothing.',
      severity: 'error',
      from: { path: '^apps/node/src/console/console\\.types\\.ts$' },
      to: {},
    },
    {
      name: 'no-circular',
      severity: 'error',
      from: { path: '^(libs|apps)/' },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['generated/prisma', '\\.spec\\.ts$', '\\.int-spec\\.ts$', '\\.e2e-spec\\.ts$'] },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default'],
    },
  },
};
