export * from './app-config';
export * from './app-config.module';
export * from './control-center-config';
export * from './receiver-config';
