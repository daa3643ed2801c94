export * from './wire.ts';
export * from './signature.ts';
export * from './call-headers.ts';
export * from './webhook.ts';
export * from './retry.ts';
