'use strict';
// The CommonJS entry points: Node 20.19+ and 22.12+ load the ES module build with require(); older ones get a message
// that says so instead of ERR_REQUIRE_ESM.
module.exports = function load(requireEsm) {
  try {
    return requireEsm();
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
};
