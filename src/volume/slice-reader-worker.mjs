// Entry of a slice reader worker thread (slice-reader-pool.ts). The TypeScript loader that the main
// thread uses (node --import tsx, or tsx's API in the argus-gateway binary) does not reach a worker
// thread in Node 20, so the worker registers it for itself before loading its TypeScript module.
import { register } from 'tsx/esm/api';

register();
await import('./slice-reader-worker.ts');
