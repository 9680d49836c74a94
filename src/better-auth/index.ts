/** `livetail/better-auth`: the plugin that tells livetail when the app's better-auth ends a session. */
export { livetail, type LivetailPluginOptions } from './plugin.js';
