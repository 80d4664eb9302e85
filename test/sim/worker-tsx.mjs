// The seed worker as the test runner starts it (from the TypeScript sources): the runner's loader,
// tsx (.taprc), is registered again in this thread, since a worker thread on Node 20 does not inherit
// the main thread's module hooks.
import { register } from 'tsx/esm/api'

register()
await import('./worker.ts')
