// The devDependency alias `express4` (npm:express@^4.21), for the test that mounts livetail in an
// Express 4 app. Typed as Express 5's default export: the test uses only what both versions share.
declare module 'express4' {
  import express from 'express';
  export default express;
}
