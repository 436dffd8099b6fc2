/** Thrown into a node that the build's signal stopped; never reported as the node's failure. */
export class Interrupted extends Error {
  constructor() {
    super('interrupted');
  }
}
