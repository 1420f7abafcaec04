// One jest run, three tiers (STYLE.md 2.7). `npm test` runs them all; `--selectProjects` picks one.
const swcTransform = [
  '@swc/jest',
  {
    jsc: {
      parser: { syntax: 'typescript', decorators: true },
      transform: { legacyDecorator: true, decoratorMetadata: true },
      target: 'es2022',
      keepClassNames: true,
    },
    module: { type: 'commonjs' },
    sourceMaps: 'inline',
  },
];

const esmOnlyPackages = ['@nestjs'];

const shared = {
  rootDir: __dirname,
  testEnvironment: 'node',
  // NestJS 12 ships ESM only, and jest on Node 20 cannot require(esm): compile those packages to
  // CommonJS like our own sources.
  transform: { '^.+\\.(ts|js|mjs)$': swcTransform },
  transformIgnorePatterns: [`/node_modules/(?!(${esmOnlyPackages.join('|')})/)`],
  moduleFileExtensions: ['ts', 'js', 'json'],
  moduleNameMapper: {
    '^@app/([a-z-]+)$': '<rootDir>/libs/$1/src',
    // Generated Prisma code imports its siblings as .js, which are .ts files here.
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  setupFiles: ['<rootDir>/test/setup-env.js'],
  clearMocks: true,
  restoreMocks: true,
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
};

module.exports = {
  // A failing test can skip its cleanup and leave a loop or a pool open; CI must then still end with
  // the summary and a failing status, never wait for its time limit (jest says when it forced the exit).
  forceExit: true,
  projects: [
    { ...shared, displayName: 'unit', testMatch: ['<rootDir>/{apps,libs,test}/**/*.spec.ts'] },
    {
      ...shared,
      displayName: 'integration',
      // Integration tests start services, wait for back-offs and reconnections.
      setupFilesAfterEnv: ['<rootDir>/test/timeout-60s.js', '<rootDir>/test/quiet-logs.ts'],
      testMatch: ['<rootDir>/{apps,libs,test}/**/*.int-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
    {
      ...shared,
      displayName: 'e2e',
      setupFilesAfterEnv: ['<rootDir>/test/timeout-120s.js', '<rootDir>/test/quiet-logs.ts'],
      testMatch: ['<rootDir>/{apps,libs,test}/**/*.e2e-spec.ts'],
      globalSetup: '<rootDir>/test/global-setup.ts',
      globalTeardown: '<rootDir>/test/global-teardown.ts',
    },
  ],
};
