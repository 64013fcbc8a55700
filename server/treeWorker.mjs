// Worker thread entry: loads the TypeScript worker through tsx, as the bin/ launchers do.
import { register } from 'tsx/esm/api';

register();
await import('./treeWorker.ts');
