export * from './wire.ts';
export * from './signature.ts';
export * from './webhook.ts';
