'use strict';
module.exports = require('./load.cjs')(() => require('../dist/src/mastra/index.js'));
