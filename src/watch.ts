export async function watch(_file: string | undefined, _targets: string[], _o: { jobs?: number; json: boolean; quiet: boolean }): Promise<number> {
  throw new Error('watch mode is not available yet');
}
