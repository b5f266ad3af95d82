/** `nodeplane get|describe`: placeholder until the admin client lands (foundation issue). */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write("nodeplane get: being built\n");
  return 1;
}

export async function describeMain(_argv: string[]): Promise<number> {
  process.stderr.write("nodeplane describe: being built\n");
  return 1;
}
