/** `nodeplane demo`: placeholder until the lab demo lands (foundation issue). */
export async function main(_argv: string[]): Promise<number> {
  process.stderr.write("nodeplane demo: being built\n");
  return 1;
}
