export * from './services';
export * from './enrolment';
