import v8 from 'node:v8';
import vm from 'node:vm';

/**
 * A full garbage collection, so resident memory reflects what is held, not garbage not yet collected.
 * (The flag can be set at run time; the function then exists in contexts created afterwards.)
 */
v8.setFlagsFromString('--expose-gc');
export const collectGarbage = vm.runInNewContext('gc') as () => void;
