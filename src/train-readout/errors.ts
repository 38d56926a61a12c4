// Bad training or evaluation input (options, features, labels, a run folder): the message names
// the input and the fix, and the CLI exits 2 without having written anything.

export class TrainInputError extends Error {
  override name = 'TrainInputError';
}
