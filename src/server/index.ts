/** `livetail/server`: livetail's own server (what `npm start` runs), for programs that start it themselves. */
export { type LivetailServer, type StartOptions, StartupError, startLivetail } from './start-livetail.js';
export { type Config, ConfigError, loadConfig } from '../config.js';
