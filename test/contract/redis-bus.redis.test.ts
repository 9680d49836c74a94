import pino from 'pino';
import { describe } from 'vitest';
import { RedisBus } from '../../src/bus/redis-bus.js';
import { TEST_REDIS_URL, randomRedisPrefix, serviceAvailable } from '../helpers/services.js';
import { busContract } from './bus.contract.js';

const available = await serviceAvailable('redis');
const prefix = randomRedisPrefix();

describe.skipIf(!available)('RedisBus on the shared Redis', () => {
  busContract('RedisBus', () => RedisBus.open({ url: TEST_REDIS_URL, prefix, logger: pino({ level: 'silent' }) }), { crossNode: true });
});
