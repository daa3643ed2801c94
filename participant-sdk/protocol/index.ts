export * from './wire.ts';
export * from './signature.ts';
