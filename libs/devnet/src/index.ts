export * from './services';
export * from './enrolment';
export * from './network';
export * from './console-build';
