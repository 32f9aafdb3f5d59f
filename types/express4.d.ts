// Express 4, installed under the alias `express4` so the suite runs on Express 4 and 5 side by side.
declare module 'express4' {
  import express from 'express';
  export default express;
}
