import { LocalBus } from '../../src/bus/local-bus.js';
import { busContract } from './bus.contract.js';

busContract('LocalBus', async () => new LocalBus(), { crossNode: false });
