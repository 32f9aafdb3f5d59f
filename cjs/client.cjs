'use strict';
// CommonJS entry: Node 20.19+ and 22.12+ load the ES module with require(); older ones get a message that says so.
try {
  module.exports = require('../dist/src/client/index.js');
} catch (error) {
  if (error && (error.code === 'ERR_REQUIRE_ESM' || error.code === 'ERR_REQUIRE_ASYNC_MODULE')) {
    throw new Error(
      'clerk-mastra-auth is an ES module: require() of it needs Node 20.19+ or 22.12+ (this is ' + process.version + '). ' +
        'Upgrade Node, or load it with import() / an ES module app.',
      { cause: error },
    );
  }
  throw error;
}
